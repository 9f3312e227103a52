"""The ``spirograph`` command: a thin argparse front over the package's Python API.

Subcommands live next to the code they drive; each module listed in ``COMMAND_MODULES`` exposes
``register(subparsers)`` that adds its parsers with ``set_defaults(func=...)``. ``func(args)``
returns an exit status. User mistakes surface as ``ValueError``/``OSError`` and are printed as one
line (no traceback) with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ._command import CommandError
from ._version import __version__

__all__ = ["COMMAND_MODULES", "CommandError", "build_parser", "main"]

COMMAND_MODULES = ("spirograph.splits.commands", "spirograph.harness.commands", "spirograph.viz_commands")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spirograph",
        description="Generate, inspect and score on the differentiable Spirograph benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"spirograph-bench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CommandError as err:
        print(f"spirograph {args.command}: error: {err}", file=sys.stderr)
        return err.code
    except (ValueError, OSError) as err:
        print(f"spirograph {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spirograph {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
