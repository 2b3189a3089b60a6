"""The ``vividsound`` command line. ``main(argv)`` runs in-process (tests call it directly).

Each subcommand lives in its own module with two functions, ``add_arguments(parser)`` and
``run(args) -> int`` (or in an object with both, named ``"module:NAME"``, when one module serves several
subcommands); this file only wires them up, so importing it stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, Sequence

from vividsound import __version__
from vividsound.errors import VividsoundError

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("vividsound.commands.generate", "generate sounds from text prompts"),
    "continue": ("vividsound.commands.edit:CONTINUE", "continue an audio clip from a text prompt"),
    "inpaint": ("vividsound.commands.edit:INPAINT", "regenerate a time span of an audio clip"),
    "vary": ("vividsound.commands.edit:VARY", "make variations of an audio clip"),
    "info": ("vividsound.commands.info", "describe a model: components, sizes, mel config"),
    "corpus": ("vividsound.data.cli", "build or inspect the offline caption-audio corpus"),
    "probes": ("vividsound.data.probes_cli", "build the checkable probe prompt set"),
    "train": ("vividsound.train.cli", "train one stage (tagger, vqgan, clap, gpt, melgan, vocos, captioner)"),
    "train-default": ("vividsound.train.default_cli", "train every stage of the default model"),
    "finetune": ("vividsound.finetune.cli", "fine-tune a model on a folder of your own clips (adapters)"),
    "evaluate": ("vividsound.eval.cli", "evaluate a model on a corpus split and the probes"),
    "serve": ("vividsound.server.cli", "serve the web page and HTTP API"),
    "listening-test": ("vividsound.listening.cli", "a blind listening test: create clips, serve the rating page, report"),
}


class UsageError(VividsoundError):
    """A command-line usage error (exit code 2)."""


class SubcommandUnavailable(VividsoundError):
    """A subcommand's module could not be imported (a missing optional dependency or a broken install)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2, like argparse but raisable in tests
        raise UsageError(message)


def _unavailable(name: str, module: str, err: ImportError) -> Callable[[argparse.Namespace], int]:
    """The ``run`` of a subcommand whose module cannot be imported: it says why instead of vanishing."""
    missing = getattr(err, "name", None)
    hint = f" (pip install {missing.split('.')[0]}, or the extra that brings it)" if missing and not \
        missing.startswith("vividsound") else ""

    def run(args: argparse.Namespace) -> int:
        raise SubcommandUnavailable(f"'{name}' is unavailable: importing {module} failed: {err}{hint}")

    return run


def build_parser() -> argparse.ArgumentParser:
    """The argument parser. A subcommand whose module fails to import is still listed, marked
    "unavailable", and running it is an error that names the import failure (never a silent absence)."""
    parser = _Parser(prog="vividsound", description="Diverse and vivid sound generation from text.")
    parser.add_argument("--version", action="version", version=f"vividsound {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    unavailable: dict[str, Callable[[argparse.Namespace], int]] = {}
    parser.set_defaults(_unavailable=unavailable)
    for name, (module, help_text) in SUBCOMMANDS.items():
        module, _, attr = module.partition(":")  # "module:NAME": the subcommand is an object in the module
        try:
            mod = importlib.import_module(module)
            mod = getattr(mod, attr) if attr else mod
        except ImportError as e:
            sub.add_parser(name, help=f"{help_text} [unavailable: {e}]", description=help_text)
            unavailable[name] = _unavailable(name, module, e)
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 unexpected failure, 2 usage or input error)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        unavailable = parser.get_default("_unavailable")
        if argv and argv[0] in unavailable:  # before parsing: its options are unknown without its module
            return int(unavailable[argv[0]](argparse.Namespace()))
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        return int(args._run(args) or 0)
    except VividsoundError as e:
        # One line, whatever the message quotes (a config key or a prompt may hold a newline).
        print(f"vividsound: error: {str(e).replace(chr(13), ' ').replace(chr(10), ' ')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vividsound: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
