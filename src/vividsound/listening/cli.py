"""``vividsound listening-test create | serve | report``: a blind listening test (docs/LISTENING.md).

    vividsound listening-test create --system NAME=MODEL_DIR [--system ...] --prompts FILE --per-prompt K
                                     [--corpus DIR] [--reference] [--retrieval] --out TEST_DIR
    vividsound listening-test serve TEST_DIR [--port 8100] [--pages-per-rater N] [--invite CODE]
    vividsound listening-test report TEST_DIR [--csv FILE] [--ratings-csv FILE]
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from pathlib import Path

from vividsound.errors import InputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    sub.required = True

    c = sub.add_parser("create", help="generate every condition's clips into a test folder",
                       description="Generate every condition's clips (seeded, batched, resumable) into TEST_DIR.")
    c.add_argument("--system", action="append", default=[], metavar="NAME=MODEL_DIR",
                   help="a pipeline to rate, under a name shown only in the report (repeatable)")
    c.add_argument("--prompts", required=True, type=Path, metavar="FILE",
                   help="one prompt per line; '@ITEM_ID' or '@ITEM_ID prompt' names a corpus item; '#' comments")
    c.add_argument("--per-prompt", type=int, default=1, metavar="K", help="clips per prompt for each system (default 1)")
    c.add_argument("--out", required=True, type=Path, metavar="TEST_DIR", help="the test folder (new, or to resume)")
    c.add_argument("--corpus", type=Path, metavar="DIR", help="corpus folder or manifest (for @ITEM_ID lines)")
    c.add_argument("--reference", action="store_true",
                   help="rate each prompt's corpus recording too (every prompt must name an item); it is also "
                        "the hidden 'real recording' attention check")
    c.add_argument("--retrieval", action="store_true",
                   help="rate the retrieval baseline (the corpus train clip with the nearest caption)")
    c.add_argument("--retrieval-encoder", metavar="MODEL_DIR",
                   help="pipeline whose text encoder the retrieval baseline uses (default: the first --system)")
    c.add_argument("--no-noise-check", action="store_true", help="leave out the hidden noise clip on each page")
    c.add_argument("--duration", type=float, metavar="S",
                   help="seconds per clip (default: the shortest default duration of the systems)")
    c.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    c.add_argument("--batch-size", type=int, default=8, metavar="N", help="clips generated at once (default 8)")
    c.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    c.add_argument("--top-k", type=int, help="sampler override for every system (default: each model's)")
    c.add_argument("--top-p", type=float)
    c.add_argument("--temperature", type=float)
    c.add_argument("--cfg-scale", type=float)
    c.add_argument("--loudness", type=float, default=-20.0, metavar="DBFS",
                   help="RMS level every clip is set to (default -20)")
    c.add_argument("--no-loudness", action="store_true", help="leave clip levels as generated")
    c.add_argument("--noise-max", type=int, default=3, metavar="N",
                   help="noise check passes if its relevance <= N (default 3)")
    c.add_argument("--reference-min", type=int, default=5, metavar="N",
                   help="real-recording check passes if its relevance >= N (default 5)")
    c.add_argument("--min-pass-rate", type=float, default=0.75, metavar="R",
                   help="a rater is kept if they pass this share of their checks (default 0.75)")
    c.add_argument("--name", default="", help="the test's name on the page (default: the folder's name)")
    c.add_argument("--quiet", action="store_true", help="no progress bar and no progress messages")

    s = sub.add_parser("serve", help="serve the rating page", description="Serve the rating page of TEST_DIR.")
    s.add_argument("test_dir", type=Path, metavar="TEST_DIR")
    s.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1; any other needs --invite)")
    s.add_argument("--port", type=int, default=8100, help="TCP port (default 8100)")
    s.add_argument("--pages-per-rater", type=int, metavar="N", help="prompts each rater gets (default: all)")
    s.add_argument("--invite", metavar="CODE", help="raters must come with ?invite=CODE (or type it)")
    s.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"))

    r = sub.add_parser("report", help="the table: means, intervals, kept raters, differences",
                       description="Print mean relevance and quality per condition with 95 % bootstrap intervals.")
    r.add_argument("test_dir", type=Path, metavar="TEST_DIR")
    r.add_argument("--csv", type=Path, metavar="FILE", help="also write the table as CSV")
    r.add_argument("--ratings-csv", type=Path, metavar="FILE", help="also write every rating (with kept/dropped) as CSV")
    r.add_argument("--bootstrap", type=int, default=2000, metavar="N", help="bootstrap replicates (default 2000)")
    r.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    r.add_argument("--noise-max", type=int, help="override the test's noise check threshold")
    r.add_argument("--reference-min", type=int, help="override the test's real-recording check threshold")
    r.add_argument("--min-pass-rate", type=float, help="override the test's pass rate")


def run(args: argparse.Namespace) -> int:
    return {"create": _create, "serve": _serve, "report": _report}[args.action](args)


def _create(args: argparse.Namespace) -> int:
    from vividsound.listening.create import CreateOptions, create_test, parse_system
    from vividsound.listening.spec import Checks

    o = CreateOptions(out=args.out, prompts_file=args.prompts, systems=tuple(parse_system(x) for x in args.system),
                      per_prompt=args.per_prompt, corpus=args.corpus, reference=args.reference,
                      retrieval=args.retrieval, retrieval_encoder=args.retrieval_encoder,
                      noise_check=not args.no_noise_check, duration=args.duration, seed=args.seed,
                      batch_size=args.batch_size, device=args.device, top_k=args.top_k, top_p=args.top_p,
                      temperature=args.temperature, cfg_scale=args.cfg_scale,
                      loudness_dbfs=None if args.no_loudness else args.loudness,
                      checks=Checks(args.noise_max, args.reference_min, args.min_pass_rate), name=args.name)
    test = create_test(o, progress=not args.quiet and sys.stderr.isatty(),
                       log=(lambda m: None) if args.quiet else (lambda m: print(f"vividsound: {m}", file=sys.stderr)))
    print(test.root)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from vividsound.listening.spec import DB_FILE, load_test
    from vividsound.listening.store import RatingStore
    from vividsound.server.config import is_loopback

    if args.pages_per_rater is not None and args.pages_per_rater < 1:
        raise InputError(f"--pages-per-rater is {args.pages_per_rater}; allowed: an integer >= 1")
    if not is_loopback(args.host) and not args.invite:
        raise InputError(f"--host {args.host}: refusing to listen beyond this machine without --invite CODE "
                         "(anyone who can reach it could add ratings)")
    if args.invite is not None and len(args.invite) < 8:
        raise InputError("--invite must be at least 8 characters")
    test = load_test(args.test_dir, check_clips=True)
    store = RatingStore(test.root / DB_FILE, test.id)
    import uvicorn

    from vividsound.listening.app import create_listening_app

    app = create_listening_app(test, store, pages_per_rater=args.pages_per_rater, invite=args.invite)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host = f"[{args.host}]" if ":" in args.host else args.host
    link = f"http://{host}:{args.port}/" + (f"?invite={args.invite}" if args.invite else "")
    print(f"vividsound: listening test {test.name!r} ({len(test.prompts)} prompts, {len(test.clips)} clips) on {link} "
          f"(ratings in {store.path})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, server_header=False)
    return 0


def _report(args: argparse.Namespace) -> int:
    from vividsound.listening.report import make_report, screen_raters, with_overrides
    from vividsound.listening.spec import DB_FILE, load_test
    from vividsound.listening.store import RatingStore

    for opt in ("csv", "ratings_csv"):
        f = getattr(args, opt)
        if f is not None and not f.parent.is_dir():
            raise InputError(f"--{opt.replace('_', '-')} {f}: the folder does not exist")
    test = load_test(args.test_dir)
    checks = with_overrides(test.checks, args.noise_max, args.reference_min, args.min_pass_rate)
    ratings = RatingStore(test.root / DB_FILE, test.id, create=False).ratings()
    rep = make_report(test, ratings, checks=checks, replicates=args.bootstrap, seed=args.seed)
    if checks != test.checks:
        print(f"note: attention-check thresholds overridden (test.json: {test.checks})")
    print(rep.table())
    if args.csv is not None:
        args.csv.write_text(rep.csv(), encoding="utf-8")
    if args.ratings_csv is not None:
        kept = {r.rater: r.kept for r in screen_raters(test, ratings, checks)}
        with args.ratings_csv.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["rater", "kept", "prompt", "prompt_text", "condition", "clip", "relevance", "quality", "time",
                        "page_version"])
            text = {p.id: p.text for p in test.prompts}
            for x in ratings:
                w.writerow([x.rater, int(kept[x.rater]), x.prompt, text.get(x.prompt, ""), x.condition, x.clip,
                            x.relevance, x.quality, x.created, x.page_version])
    return 0
