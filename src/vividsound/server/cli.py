"""``vividsound serve``: the web page and HTTP API in one process (FastAPI + uvicorn)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from pathlib import Path

from vividsound.server.config import (API_KEY_ENV, ServerConfig, check_bind, check_port_free, default_output_dir,
                                      prepare_output_dir)


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = ServerConfig.__dataclass_fields__
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to bind (default 127.0.0.1; any other needs an API key)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--model", metavar="DIR", help="pipeline folder (default: the bundled model)")
    p.add_argument("--vocoder", choices=("hifigan", "melgan", "griffinlim", "vocos"), help="override the model's vocoder")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    p.add_argument("--api-key", metavar="KEY",
                   help=f"require this key on every /v1 route (default: ${API_KEY_ENV}; prefer the variable, "
                        "since arguments are visible to other local users)")
    p.add_argument("--output-dir", metavar="DIR", type=Path,
                   help=f"where results are written (default {default_output_dir()})")
    p.add_argument("--max-queue", type=int, default=d["max_queue"].default, metavar="N",
                   help="requests that may wait for the model; more get 503 + Retry-After (default %(default)s)")
    p.add_argument("--max-batch", type=int, default=d["max_batch_rows"].default, metavar="N",
                   help="sounds generated in one model call (default %(default)s)")
    p.add_argument("--batch-window-ms", type=float, default=d["batch_window_ms"].default, metavar="MS",
                   help="wait this long to collect requests into one batch (default %(default)s)")
    p.add_argument("--timeout", type=float, default=d["timeout_s"].default, metavar="S",
                   help="seconds a request may take, queueing included; then 408 (default %(default)s)")
    p.add_argument("--max-duration", type=float, metavar="S", help="longest sound in seconds (default: the model's window, 10 s for the bundled model; "
                        "up to 120 s, sampled window by window)")
    p.add_argument("--max-prompt-chars", type=int, metavar="N", help="longest prompt (default: the pipeline's, 1000)")
    p.add_argument("--max-prompts", type=int, default=d["max_prompts"].default, metavar="N",
                   help="prompts per request (default %(default)s)")
    p.add_argument("--max-samples", type=int, default=d["max_samples"].default, metavar="N",
                   help="variations per prompt, num_samples (default %(default)s)")
    p.add_argument("--max-results", type=int, default=d["max_results"].default, metavar="N",
                   help="results kept in the output folder; older ones are deleted (default %(default)s)")
    p.add_argument("--header-timeout", type=float, default=d["header_timeout_s"].default, metavar="S",
                   help="seconds a client has to send its request headers; then the connection is closed "
                        "(default %(default)s)")
    p.add_argument("--body-timeout", type=float, default=d["body_timeout_s"].default, metavar="S",
                   help="seconds a client has to send its whole body; then 408 (default %(default)s)")
    p.add_argument("--max-connections", type=int, default=d["max_connections"].default, metavar="N",
                   help="open connections + running requests; beyond, 503 at once (default %(default)s)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for the model (default: the CPUs this process may use, at most 8)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The :class:`ServerConfig` for parsed arguments (the API key falls back to the environment)."""
    key = args.api_key or os.environ.get(API_KEY_ENV) or None
    kw = dict(host=args.host, port=args.port, api_key=key, max_queue=args.max_queue, max_batch_rows=args.max_batch,
              batch_window_ms=args.batch_window_ms, timeout_s=args.timeout, max_duration=args.max_duration,
              max_prompt_chars=args.max_prompt_chars, max_prompts=args.max_prompts, max_samples=args.max_samples,
              max_results=args.max_results, header_timeout_s=args.header_timeout,
              body_timeout_s=args.body_timeout, max_connections=args.max_connections)
    if args.output_dir is not None:
        kw["output_dir"] = args.output_dir
    return ServerConfig(**kw)


def run(args: argparse.Namespace) -> int:
    from vividsound.devices import check_device, set_threads

    # Everything that can be wrong with the options is refused here, in one line, before the model loads.
    config = config_from_args(args)
    check_bind(config)
    root = prepare_output_dir(config.output_dir)
    check_port_free(config.host, config.port)
    device = check_device(args.device)  # these two import torch (seconds): after the instant checks
    threads = set_threads(args.threads)
    import uvicorn

    from vividsound.pipeline import TextToSound
    from vividsound.server.app import create_app
    from vividsound.server.protocol import guarded_h11

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tts = TextToSound.from_pretrained(args.model, device=device, vocoder=args.vocoder)
    app = create_app(tts, dataclasses.replace(config, output_dir=root))
    check_port_free(config.host, config.port)  # again: another program may have taken it while the model loaded
    host = f"[{config.host}]" if ":" in config.host else config.host
    print(f"vividsound: serving {tts.name} on http://{host}:{config.port}/ "
          f"(results in {app.state.store.root}; {threads} CPU thread(s){'; API key required' if config.api_key else ''})",
          flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level=args.log_level, server_header=False,
                http=guarded_h11(config.header_timeout_s), limit_concurrency=config.max_connections,
                timeout_keep_alive=5)
    return 0
