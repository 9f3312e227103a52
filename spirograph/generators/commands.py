"""``spirograph generators``: list the registered generators with their factors, roles and ranges."""

from __future__ import annotations

import json

from . import get
from . import list as names


def register(subparsers) -> None:
    """Add the ``generators`` subcommand."""
    cmd = subparsers.add_parser(
        "generators",
        help="list the registered generators (name, version, factors, roles, ranges)",
        description="List the registered generators: name, version, factors with their default roles and prior ranges, "
        "render options and shift families. Every command that renders takes --generator NAME (default spirograph).",
    )
    cmd.add_argument("name", nargs="?", default=None, help="show only this generator")
    cmd.add_argument("--json", action="store_true", help="print the descriptions as JSON")
    cmd.set_defaults(func=_generators)


def describe(name: str) -> str:
    """A few lines about generator ``name``: title, options, shift families and one line per factor."""
    info = get(name).describe()
    options = ", ".join(f"{k}={v!r}" for k, v in info["options"].items())
    lines = [
        f"{info['name']} (version {info['version']}): {info['title']}",
        f"  render options: {options}",
        f"  shift families: {', '.join(info['shifts']) or '-'}",
        "  groups: " + (", ".join(f"{g} ({' '.join(m)})" for g, m in info["groups"].items()) or "-"),
    ]
    width = max(len(f["name"]) for f in info["factors"])
    priors = [f"U[{f['range'][0]:g}, {f['range'][1]:g}]" + (" > 0" if f["positive"] else "") for f in info["factors"]]
    prior_width = max(len(p) for p in priors)
    for f, prior in zip(info["factors"], priors):
        lines.append(f"  {f['name']:<{width}}  {f['role']:<8}  {prior:<{prior_width}}  {f['description']}".rstrip())
    return "\n".join(lines)


def _generators(args) -> int:
    chosen = names() if args.name is None else (get(args.name).name,)
    if args.json:
        print(json.dumps([get(n).describe() for n in chosen], indent=2))
    else:
        print("\n\n".join(describe(n) for n in chosen))
    return 0
