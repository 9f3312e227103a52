"""The ``spirograph`` command: a thin argparse front over the package's Python API.

Subcommands live next to the code they drive; each module listed in ``COMMAND_MODULES`` exposes
``register(subparsers)`` that adds its parsers with ``set_defaults(func=...)``. ``func(args)``
returns an exit status. User mistakes surface as ``ValueError``/``OSError`` and are printed as one
line (no traceback, no ``[Errno N]``) with exit status 2; messages name the command's flags
(``--overwrite``), not the Python keywords behind them. Ctrl-C and SIGTERM stop a command with one
line and exit status 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import _signals
from ._command import CommandError
from ._validate import command_line, error_line
from ._version import __version__

__all__ = ["COMMAND_MODULES", "CommandError", "build_parser", "main"]

COMMAND_MODULES = (
    "spirograph.splits.commands",
    "spirograph.harness.commands",
    "spirograph.viz_commands",
    "spirograph.generators.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spirograph",
        description="Generate, inspect and score on the differentiable Spirograph benchmark and its other generators.",
    )
    parser.add_argument("--version", action="version", version=f"spirograph-bench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each option's destination -> its long flag (``{"chunk_size": "--chunk-size"}``), for messages."""
    out = {}
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs and action.dest != "help":
            out[action.dest] = longs[0]
    return out


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _signals.interrupts(), command_line(flags(_subparser(parser, args.command))):
            return int(args.func(args) or 0)
    except CommandError as err:
        print(f"spirograph {args.command}: error: {error_line(err)}", file=sys.stderr)
        return err.code
    except (ValueError, OSError) as err:
        print(f"spirograph {args.command}: error: {error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spirograph {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
