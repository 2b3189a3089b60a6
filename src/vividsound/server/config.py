"""Server settings and the request limits derived from them and from the loaded model.

The limits are computed once at start-up (:func:`resolve_limits`) and used in three places that must
agree: the Pydantic request model (so the OpenAPI spec states them), the handlers (which enforce the
ones a schema cannot express, such as prompts x samples) and ``GET /v1/model`` (so clients can read them).
"""

from __future__ import annotations

import errno
import ipaddress
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vividsound.errors import ConfigError

API_KEY_ENV = "VIVIDSOUND_API_KEY"
MIN_API_KEY_CHARS = 12


def default_output_dir() -> Path:
    """``$XDG_CACHE_HOME/vividsound/server-results`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vividsound" / "server-results"


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``vividsound serve`` can be told; defaults are the documented ones (docs/SERVER.md)."""

    host: str = "127.0.0.1"  # interface to bind; anything but loopback needs an API key
    port: int = 8000  # TCP port
    api_key: str | None = None  # required on every /v1 route when set (Bearer or X-API-Key)
    output_dir: Path = field(default_factory=default_output_dir)  # generated files live here, nowhere else
    max_queue: int = 32  # requests waiting for the model; more are answered 503 + Retry-After
    max_batch_rows: int = 8  # sounds generated in one model call (micro-batch size)
    batch_window_ms: float = 5.0  # how long the worker waits for compatible requests to batch
    timeout_s: float = 120.0  # longest a request may wait + run; then 408
    max_duration: float | None = None  # seconds; None = the model's window (~10 s); up to its long limit (120 s)
    max_prompt_chars: int | None = None  # None = the pipeline's limit
    max_prompts: int = 4  # prompts in one request
    max_samples: int = 4  # variations per prompt (num_samples); a request makes up to prompts x samples
    max_results: int = 500  # result files kept in output_dir; the oldest are deleted beyond this
    max_body_bytes: int = 64 * 1024  # largest JSON body accepted (413 beyond)

    header_timeout_s: float = 10.0  # a client must send its request line and headers within this; then closed
    body_timeout_s: float = 30.0  # a client must send its whole body within this; then 408
    max_connections: int = 256  # open connections + running requests; beyond, new requests get 503 at once

    def __post_init__(self) -> None:
        # Every option is checked like the sampler's: type, finiteness and range, with a one-line error
        # naming it (issue 26: a NaN batch window once made the worker spin and every request time out).
        ints = {"port": (0, 65535), "max_queue": (1, 100_000), "max_batch_rows": (1, 1024),
                "max_prompts": (1, 1024), "max_samples": (1, 1024), "max_results": (1, 10**7),
                "max_body_bytes": (1024, 10**8), "max_connections": (1, 100_000)}
        floats = {"timeout_s": (0.0, 86_400.0, True), "batch_window_ms": (0.0, 10_000.0, False),
                  "header_timeout_s": (0.0, 3600.0, True), "body_timeout_s": (0.0, 3600.0, True)}
        for name, (low, high) in ints.items():
            _check(name, getattr(self, name), low, high, integer=True)
        for name, (low, high, open_low) in floats.items():
            _check(name, getattr(self, name), low, high, open_low=open_low)
        if self.max_duration is not None:
            _check("max_duration", self.max_duration, 0.0, 3600.0, open_low=True)
        if self.max_prompt_chars is not None:
            _check("max_prompt_chars", self.max_prompt_chars, 1, 100_000, integer=True)
        if not isinstance(self.host, str) or not self.host.strip():
            raise ConfigError(f"host is {self.host!r}; allowed: an interface address or name, e.g. 127.0.0.1")
        if self.api_key is not None and len(self.api_key) < MIN_API_KEY_CHARS:
            raise ConfigError(f"the API key has {len(self.api_key)} characters; use at least {MIN_API_KEY_CHARS} "
                              "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')")


def _check(name: str, value: Any, low: float, high: float, *, integer: bool = False, open_low: bool = False) -> None:
    """One option: a number (an integer if ``integer``), finite, in [low, high] (or (low, high])."""
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise ConfigError(f"{name} is {value!r}; allowed: {'an integer' if integer else 'a number'} "
                          f"from {low:g} to {high:g}")
    if not math.isfinite(value) or value > high or (value <= low if open_low else value < low):
        lo = f"> {low:g}" if open_low else f">= {low:g}"
        raise ConfigError(f"{name} is {value!r}; allowed: {lo} and <= {high:g}")


def prepare_output_dir(path: str | os.PathLike) -> Path:
    """Create the results folder if needed and prove it writable (by writing a file: ``os.access`` says
    yes to root on a read-only mount); raises :class:`ConfigError` naming the folder."""
    root = Path(path).expanduser()
    try:
        root = root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        if not root.is_dir():
            raise NotADirectoryError(f"{root} is not a folder")
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=str(root))
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        reason = e.strerror or str(e)
        if isinstance(e, (FileExistsError, NotADirectoryError)) or (root.exists() and not root.is_dir()):
            reason = "it is a file, not a folder"
        raise ConfigError(f"--output-dir {path}: cannot write results there ({reason})") from None
    return root


def check_port_free(host: str, port: int) -> None:
    """Refuse at once when ``host:port`` cannot be bound (in use, no such interface), before any slow work."""
    import socket

    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        raise ConfigError(f"--host {host}: not an address this machine can bind ({e})") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no conflict
        try:
            s.bind(addr)
        except OSError as e:
            what = "is in use by another program" if e.errno == errno.EADDRINUSE else f"cannot be bound ({e.strerror})"
            raise ConfigError(f"--port {port} on {host} {what}; choose another --port") from None


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); hostnames count as public."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(config: ServerConfig) -> None:
    """Refuse to listen beyond this machine without an API key."""
    if not is_loopback(config.host) and not config.api_key:
        raise ConfigError(f"refusing to bind to {config.host} without an API key: anyone who can reach it could "
                          f"use the model; pass --api-key KEY or set {API_KEY_ENV}, or bind to 127.0.0.1")


@dataclass(frozen=True)
class Limits:
    """The limits one running server enforces (model limits lowered by the server's settings)."""

    max_duration: float  # seconds per sound
    max_prompt_chars: int  # characters per prompt
    max_prompts: int  # prompts per request
    max_samples: int  # variations per prompt (num_samples)
    max_top_k: int  # the model's codebook size
    max_queue: int  # waiting requests
    max_batch_rows: int  # sounds per model call
    timeout_s: float  # seconds per request, queueing included
    max_body_bytes: int  # bytes per request body
    header_timeout_s: float = 10.0  # seconds to send the request line and headers
    body_timeout_s: float = 30.0  # seconds to send the whole body
    max_connections: int = 256  # open connections + running requests
    max_seed: int = 2**63 - 1  # largest seed (of the last sound: seed + num_samples - 1)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "max_sounds_per_request": self.max_prompts * self.max_samples}


def resolve_limits(config: ServerConfig, model_info: dict[str, Any]) -> Limits:
    """Combine the model's limits (``TextToSound.info()``) with the server's settings."""
    # Round down to milliseconds so the advertised limit never exceeds the model's.
    model_dur = math.floor(float(model_info["max_duration"]) * 1000 + 1e-6) / 1000
    # Past the GPT's window a clip is sampled window by window: allowed when the server asks for it.
    long_dur = math.floor(float(model_info.get("max_long_duration", model_dur)) * 1000 + 1e-6) / 1000
    duration = model_dur if config.max_duration is None else min(long_dur, config.max_duration)
    chars = int(model_info["max_prompt_chars"])
    if config.max_prompt_chars is not None:
        chars = min(chars, config.max_prompt_chars)
    samples = min(config.max_samples, int(model_info["max_samples_per_call"]))
    return Limits(max_duration=duration, max_prompt_chars=chars, max_prompts=config.max_prompts,
                  max_samples=samples, max_top_k=int(model_info["gpt"]["vocab_size"]), max_queue=config.max_queue,
                  max_batch_rows=config.max_batch_rows, timeout_s=config.timeout_s,
                  max_body_bytes=config.max_body_bytes, header_timeout_s=config.header_timeout_s,
                  body_timeout_s=config.body_timeout_s, max_connections=config.max_connections)
