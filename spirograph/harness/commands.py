"""The ``spirograph score`` and ``spirograph leaderboard`` subcommands."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from .. import _io
from .._io import check_output_path
from .._validate import bad_value

_EPILOG_SCORE = """examples:
  spirograph score --encoder mypackage.models:build_encoder --weights enc.pt --out result.json
  spirograph score --encoder ./my_encoder.py:build --weights enc.pt --out result.json
  spirograph score --reference pixels --suite quick --out pixels.json
  spirograph score --encoder mypackage.models:build_encoder --disclose uses_nuisance_labels=false \\
      --disclose training="simclr 50 epochs" --tasks linear,invariance --out result.json"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``score`` and ``leaderboard`` to the ``spirograph`` command."""
    from .result import TASK_NAMES

    score = subparsers.add_parser(
        "score",
        help="score an encoder on a suite and write a result JSON",
        description="Score a frozen encoder (MODULE:CALLABLE or FILE.py:CALLABLE builds it) or a reference encoder "
        "on a Spirograph suite. MODULE is imported from the import path (the current folder is not on it); "
        "FILE.py is a path to a Python file.",
        epilog=_EPILOG_SCORE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = score.add_mutually_exclusive_group(required=True)
    which.add_argument("--encoder", metavar="MODULE:CALLABLE", help="callable that builds the encoder (called without "
                       "arguments): MODULE:CALLABLE (importable module) or FILE.py:CALLABLE (path to a Python file)")
    which.add_argument("--reference", metavar="NAME", help="a reference encoder: oracle, pixels or random-convnet")
    score.add_argument("--weights", metavar="PATH", help="state dict loaded with torch.load(weights_only=True)")
    score.add_argument("--suite", default="quick", help="suite name (default: quick; also: standard, the paper's sizes, and "
                       "demo, the smaller suite of spirograph-demo)")
    score.add_argument("--generator", default="spirograph",
                       help="generator whose suite is scored (default: spirograph; `spirograph generators` lists them)")
    score.add_argument("--tasks", metavar="A,B", help=f"comma-separated subset of: {', '.join(TASK_NAMES)} (default: all)")
    score.add_argument("--device", default="cpu", help="torch device for rendering and the encoder (default: cpu)")
    score.add_argument("--name", help="entry name on the leaderboard (default: the reference's name, or the module or file "
                       "name and the callable of --encoder, e.g. my_encoder.build)")
    score.add_argument("--disclose", metavar="KEY=VALUE", action="append", default=[],
                       help="a disclosure, repeatable; VALUE as JSON (true, 1, null) or text; the leaderboard has columns "
                       "for uses_nuisance_labels and test_time_passes (it shows — where a result lacks one)")
    score.add_argument("--solver", default="closed_form", choices=("closed_form", "lbfgs"),
                       help="probe solver for the paper's weight 1e-8 (default: closed_form)")
    score.add_argument("--out", required=True, metavar="RESULT.json", help="output file")
    score.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    score.add_argument("--quiet", action="store_true", help="no progress output")
    score.set_defaults(func=run_score)

    board = subparsers.add_parser(
        "leaderboard",
        help="rank result files by mean content R² (linear task): markdown, HTML page, figure",
        description="Rank scored entries by the mean content R² of the linear task (best first), one table per group "
        "(generator and suite, each with its version: other groups are never ranked together); print or write markdown, "
        "and optionally write a self-contained HTML page (sortable tables, a detail view per entry) and the curves figure. "
        "Each file must be a valid result whose derived figures agree with their parts and whose suite block is the "
        "registered suite of that name and version (a suite not registered at all is shown apart, as a custom suite); "
        "a file given twice, or two entries of one group with the same name, are refused.",
    )
    board.add_argument("results", nargs="*", metavar="RESULT.json", help="result files to rank")
    board.add_argument("--references", action="store_true", help="include the shipped reference entries (oracle, pixels, "
                       "random-convnet) of each group the results belong to; alone: all of them")
    board.add_argument("--out", metavar="leaderboard.md", help="write the markdown here instead of printing it")
    board.add_argument("--plot", metavar="leaderboard.png", help="also draw the curves per entry (.png, .pdf, .svg)")
    board.add_argument("--html", metavar="leaderboard.html", help="also write one self-contained HTML page (sortable tables, "
                       "disclosures, links to the result files, the curves figure embedded)")
    board.add_argument("--overwrite", action="store_true", help="replace existing output files")
    board.set_defaults(func=run_leaderboard)


def _parse_disclosures(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise bad_value("--disclose", item, "KEY=VALUE")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if isinstance(value, (list, dict)):
            value = text
        out[key] = value
    return out


def _command_line(args: argparse.Namespace) -> str:
    """The canonical command that reproduces this score (recorded in the result)."""
    parts = ["spirograph", "score"]
    parts += ["--reference", args.reference] if args.reference else ["--encoder", args.encoder]
    if args.weights:
        parts += ["--weights", args.weights]
    parts += ["--suite", args.suite]
    if args.generator != "spirograph":
        parts += ["--generator", args.generator]
    if args.tasks:
        parts += ["--tasks", args.tasks]
    if args.device != "cpu":
        parts += ["--device", args.device]
    if args.name:
        parts += ["--name", args.name]
    for item in args.disclose:
        parts += ["--disclose", item]
    if args.solver != "closed_form":
        parts += ["--solver", args.solver]
    parts += ["--out", args.out]
    return shlex.join(parts)


def run_score(args: argparse.Namespace) -> int:
    """Handler of ``spirograph score``: nothing is written unless scoring succeeds."""
    from .encoders import REFERENCE_DISCLOSURES, default_entry_name, load_encoder, reference_encoder
    from .leaderboard import EXPECTED_DISCLOSURES, MISSING
    from .score import check_entry_name, score
    from .suites import get_suite
    from .tasks import check_tasks

    # Everything that can be checked before the (long) scoring run is checked first.
    encoder_file = args.encoder.rpartition(":")[0] if args.encoder and ":" in args.encoder else None
    _io.refuse_inputs({"--out": args.out}, {"--weights file": args.weights, "--encoder file": encoder_file})
    check_writable(check_output_path(args.out, overwrite=args.overwrite))
    get_suite(args.suite, generator=args.generator)
    tasks = check_tasks([t.strip() for t in args.tasks.split(",")] if args.tasks else None)
    disclosures = _parse_disclosures(args.disclose)
    if args.name is not None:
        try:
            check_entry_name(args.name)
        except ValueError as err:
            raise ValueError(str(err).replace("name=", "--name=", 1)) from None
    if args.reference:
        if args.weights:
            raise bad_value("--weights", args.weights, "no weights with --reference")
        encoder = reference_encoder(args.reference)
        disclosures = {**REFERENCE_DISCLOSURES[args.reference], **disclosures}
        name = args.name or args.reference
    else:
        encoder = load_encoder(args.encoder, args.weights)
        name = args.name or default_entry_name(args.encoder)
    result = score(
        encoder, suite=args.suite, generator=args.generator, device=args.device, name=name, disclosures=disclosures, tasks=list(tasks),
        command=_command_line(args), progress=not args.quiet, solver=args.solver,
    )
    path = result.save(args.out, overwrite=args.overwrite)
    if not args.quiet:
        summary = f"linear mean R² {result.metric('linear.mean_r2'):.4f}, mean MSE {result.metric('linear.mean_mse'):.4g}; " if "linear" in tasks else ""
        print(f"{result.name}: {summary}wrote {path}")
        if args.encoder and not args.name:
            print(f"entry name {name!r} comes from --encoder; set another with --name NAME")
    missing = [key for key in EXPECTED_DISCLOSURES if key not in disclosures]
    if missing:
        flags = " ".join(f"--disclose {key}=..." for key in missing)
        print(f"note: {path} discloses no {' and no '.join(missing)}: the leaderboard will show {MISSING} there "
              f"(score again with {flags})", file=sys.stderr)
    return 0


def check_writable(path: Path) -> Path:
    """Create and remove a temporary file beside ``path``: the only sure test that it can be written.

    ``os.access`` says yes to root on a read-only directory such as ``/sys``; a long run must not
    find that out at its end.

    Raises:
        PermissionError: the directory refuses a new file (the message names it and why).
    """
    probe = _io.temporary_path(path)
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as err:
        raise PermissionError(f"directory {str(path.parent)!r} of output {str(path)!r} is not writable ({err.strerror})") from None
    os.close(fd)
    os.unlink(probe)
    return path


def _refuse_inputs(outputs: dict[str, str | None], inputs: list[str]) -> None:
    """Refuse an output that is one of the input result files, or two outputs that are the same file."""
    _io.refuse_inputs(outputs, {f"input result file {i + 1}": path for i, path in enumerate(inputs)})


def run_leaderboard(args: argparse.Namespace) -> int:
    """Handler of ``spirograph leaderboard``: every output is checked before anything is loaded or written."""
    from .leaderboard import load_results, references_for, render_markdown, write_leaderboard

    if not args.results and not args.references:
        raise bad_value("RESULT.json", [], "at least one result file (or --references)")
    paths = list(args.results) + ([str(p) for p in references_for(args.results)] if args.references else [])
    _refuse_inputs({"--out": args.out, "--plot": args.plot, "--html": args.html}, paths)
    if args.plot:
        suffix = Path(args.plot).suffix.lower()
        if suffix not in (".png", ".pdf", ".svg"):
            raise bad_value("--plot", args.plot, "a file name ending in .png, .pdf or .svg")
    if args.html and Path(args.html).suffix.lower() not in (".html", ".htm"):
        raise bad_value("--html", args.html, "a file name ending in .html or .htm")
    for output in (args.out, args.plot, args.html):
        if output:
            check_writable(check_output_path(output, overwrite=args.overwrite))
    results = load_results(paths)
    markdown = render_markdown(results)
    if args.plot:
        from .plots import plot_leaderboard

        plot_leaderboard(results, args.plot, overwrite=args.overwrite)
    if args.html:
        from .leaderboard_html import write_html

        write_html(results, args.html, sources=paths, overwrite=args.overwrite)
    if args.out:
        write_leaderboard(results, args.out, overwrite=args.overwrite)
    else:
        print(markdown, end="")
    return 0
