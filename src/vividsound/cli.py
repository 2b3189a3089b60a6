"""The ``vividsound`` command line. ``main(argv)`` runs in-process (tests call it directly).

Each subcommand lives in its own module with two functions, ``add_arguments(parser)`` and
``run(args) -> int``; this file only wires them up, so importing it stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from vividsound import __version__
from vividsound.errors import VividsoundError

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("vividsound.commands.generate", "generate sounds from text prompts"),
    "info": ("vividsound.commands.info", "describe a model: components, sizes, mel config"),
    "corpus": ("vividsound.data.cli", "build or inspect the offline caption-audio corpus"),
    "probes": ("vividsound.data.probes_cli", "build the checkable probe prompt set"),
    "train": ("vividsound.train.cli", "train one stage (tagger, vqgan, clap, gpt, melgan, captioner)"),
    "train-default": ("vividsound.train.default_cli", "train every stage of the default model"),
    "finetune": ("vividsound.finetune.cli", "fine-tune a model on a folder of your own clips (adapters)"),
    "evaluate": ("vividsound.eval.cli", "evaluate a model on a corpus split and the probes"),
    "serve": ("vividsound.server.cli", "serve the web page and HTTP API"),
}


class UsageError(VividsoundError):
    """A command-line usage error (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2, like argparse but raisable in tests
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vividsound", description="Diverse and vivid sound generation from text.")
    parser.add_argument("--version", action="version", version=f"vividsound {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module, help_text) in SUBCOMMANDS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith("vividsound"):
                continue  # a subcommand whose module is not part of this build
            raise
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 unexpected failure, 2 usage or input error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        return int(args._run(args) or 0)
    except VividsoundError as e:
        print(f"vividsound: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vividsound: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
