"""``spirograph generate | verify | info | show``: the command-line front of the split files."""

from __future__ import annotations

import sys

from .._command import CommandError
from .._io import refuse_inputs
from .._validate import bad_value
from ..factors import FactorSpace
from .schema import DEFAULT_DTYPE, DTYPES, partial_path
from .writer import COMPRESSIONS, DEFAULT_CHUNK


def register(subparsers) -> None:
    """Add the ``generate``, ``verify``, ``info`` and ``show`` subcommands."""
    gen = subparsers.add_parser(
        "generate",
        help="render train/test (and shift) splits into an HDF5 file",
        description=(
            "Render train, test and optional shift splits into one HDF5 file. The file is written "
            "beside OUT as OUT.partial and renamed on success; one writer at a time holds OUT.lock. An "
            "interrupted run, or one stopped by a full disk, keeps OUT.partial and can be resumed."
        ),
    )
    gen.add_argument("out", metavar="OUT.h5", help="output file")
    add_generator_arguments(gen)
    gen.add_argument("--train", type=int, default=100_000, help="training items (default 100000, as in the paper)")
    gen.add_argument("--test", type=int, default=20_000, help="test items, also the size of each shift split (default 20000)")
    gen.add_argument("--seed", type=int, required=True, help="non-negative seed; item i of split s depends only on (seed, s, i)")
    gen.add_argument("--resolution", type=int, default=32, help="image side R (default 32)")
    gen.add_argument("--normalize", default=None, help="spirograph: 'row' (original code, default) or 'image' (paper text)")
    gen.add_argument(
        "--dtype",
        default=DEFAULT_DTYPE,
        help=f"image storage: {', '.join(DTYPES)} (default uint8: error <= 1/510; splits whose colours "
        "leave [0, 1] are stored as float32 so nothing is clipped)",
    )
    gen.add_argument("--compression", default="none", help=f"none (default), {', '.join(COMPRESSIONS)}")
    gen.add_argument(
        "--shifts",
        default="none",
        help="comma-separated shift splits: none (default), all, a family of the generator (spirograph: bg_mean, bg_width, "
        "h_mean, h_width; `spirograph generators` lists each generator's) for its levels, or family:level for one "
        "level, e.g. 'bg_mean,h_mean:-0.3'; any finite "
        "level with valid shifted ranges is allowed (off-grid levels such as bg_mean:0.7 are written, but no suite scores them)",
    )
    gen.add_argument(
        "--content", default=None, help="comma-separated content factors; the rest are nuisance (default: the generator's, "
        "for spirograph m,b,sigma,fg_r)"
    )
    gen.add_argument("--range", action="append", default=[], metavar="NAME=LOW,HIGH", help="factor range override (repeatable)")
    gen.add_argument("--pin", action="append", default=[], metavar="NAME=VALUE", help="fix a factor to a constant (repeatable)")
    gen.add_argument(
        "--chunk-size", type=int, default=DEFAULT_CHUNK, help=f"images per write (default {DEFAULT_CHUNK}); output does not depend on it"
    )
    gen.add_argument("--workers", type=int, default=1, help="rendering processes (default 1); output does not depend on it")
    gen.add_argument("--overwrite", action="store_true", help="replace an existing OUT (or a stale partial file)")
    gen.add_argument(
        "--resume",
        action="store_true",
        help="continue the partial file OUT.partial of an interrupted run (it must exist); chunks already in it are "
        "checked against their digests and rendered again if damaged",
    )
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=_generate)

    ver = subparsers.add_parser(
        "verify", help="recompute checksums and re-render a sample of items", description="Check a split file's integrity."
    )
    ver.add_argument("path", metavar="FILE.h5")
    ver.add_argument("--sample", type=int, default=64, help="items re-rendered per split (default 64)")
    ver.add_argument("--seed", type=int, default=0, help="seed of the sample choice (default 0)")
    ver.set_defaults(func=_verify)

    inf = subparsers.add_parser("info", help="print a short summary of a split file", description="Summarise a split file.")
    inf.add_argument("path", metavar="FILE.h5")
    inf.set_defaults(func=_info)

    show = subparsers.add_parser(
        "show", help="draw a grid of images from a split file", description="Save a grid of a split's first images."
    )
    show.add_argument("path", metavar="FILE.h5")
    show.add_argument("--out", required=True, metavar="GRID.png", help="image file to write (png, pdf, svg, ...)")
    show.add_argument("--split", default="train", help="split to draw from (default train)")
    show.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    show.add_argument("--nrow", type=int, default=None, help="images per row (default: about sqrt(n))")
    show.add_argument("--overwrite", action="store_true", help="replace an existing image file")
    show.set_defaults(func=_show)


def add_generator_arguments(parser) -> None:
    """``--generator NAME`` and ``--option NAME=VALUE`` (the generator's render options), for commands that render."""
    parser.add_argument(
        "--generator", default="spirograph", help="registered generator (default spirograph; `spirograph generators` lists them)"
    )
    parser.add_argument(
        "--option", action="append", default=[], metavar="NAME=VALUE",
        help="a render option of the generator, e.g. tau=0.5 for sprites (repeatable; `spirograph generators` lists them)",
    )


def options_from_args(items: list[str]) -> dict:
    """``--option NAME=VALUE`` items as a dict; values are read as int, then float, else kept as text."""
    options: dict = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise bad_value("--option", item, "NAME=VALUE")
        if name.strip() in options:
            raise bad_value("--option", item, f"one setting per option ({name.strip()!r} is set twice)")
        for kind in (int, float):
            try:
                value = kind(text)
                break
            except ValueError:
                continue
        else:
            value = text
        options[name.strip()] = value
    return options


def space_from_args(content: str | None, ranges: list[str], pins: list[str], generator: str = "spirograph") -> FactorSpace:
    """Build the FactorSpace of ``--content``, ``--range NAME=LOW,HIGH`` and ``--pin NAME=VALUE`` for ``generator``."""
    overrides: dict = {}
    for option, items in (("--range", ranges), ("--pin", pins)):
        for item in items:
            name, sep, value = item.partition("=")
            try:
                numbers = [float(v) for v in value.split(",")] if sep else []
            except ValueError:
                numbers = []
            if option == "--range" and len(numbers) != 2 or option == "--pin" and len(numbers) != 1:
                raise bad_value(option, item, "NAME=LOW,HIGH" if option == "--range" else "NAME=VALUE")
            if name in overrides:
                raise bad_value(option, item, f"one setting per factor ({name!r} is set twice)")
            overrides[name] = tuple(numbers) if option == "--range" else numbers[0]
    names = None if content is None else [n.strip() for n in content.split(",") if n.strip()]
    return FactorSpace(overrides, content=names, generator=generator)


def _generate(args) -> int:
    from .writer import InterruptedAfterWriting, generate

    space = space_from_args(args.content, args.range, args.pin, args.generator)
    try:
        path = generate(
            args.out,
            seed=args.seed,
            train=args.train,
            test=args.test,
            space=space,
            resolution=args.resolution,
            normalize=args.normalize,
            options=options_from_args(args.option),
            dtype=args.dtype,
            shifts=args.shifts,
            compression=args.compression,
            chunk_size=args.chunk_size,
            workers=args.workers,
            overwrite=args.overwrite,
            resume=args.resume,
            progress=False if args.quiet else None,
            report=lambda line: print(f"spirograph generate: note: {line}", file=sys.stderr),
        )
    except InterruptedAfterWriting:
        raise CommandError(f"interrupted after {args.out!r} was written completely; there is nothing to resume", code=130) from None
    except KeyboardInterrupt:
        partial = partial_path(args.out)
        if partial.exists():
            raise CommandError(f"interrupted; completed chunks are kept in {str(partial)!r}: rerun with --resume to continue", code=130) from None
        raise CommandError("interrupted before anything was written", code=130) from None
    print(f"wrote {path}")
    return 0


def _verify(args) -> int:
    from .verify import verify

    report = verify(args.path, sample=args.sample, seed=args.seed)
    if not report.ok:
        more = f" (and {len(report.problems) - 1} more problems)" if len(report.problems) > 1 else ""
        raise CommandError(f"{args.path}: FAILED: {report.problems[0]}{more}", code=1)
    print(f"{args.path}: OK ({report.items_checked} items checksummed, {report.rerendered} re-rendered and matched)")
    return 0


def _info(args) -> int:
    from .reader import info

    print(info(args.path))
    return 0


def _show(args) -> int:
    from ..viz import check_figure_path, sample_grid
    from .reader import load_split, open_split_file, split_meta

    refuse_inputs({"--out": args.out}, {"split file": args.path})
    check_figure_path(args.out, overwrite=args.overwrite)
    if args.n < 1:
        raise bad_value("--n", args.n, "an integer >= 1")
    with open_split_file(args.path) as f:
        n = split_meta(f, args.split).n
    images, _, _ = load_split(args.path, args.split, 0, min(args.n, n))
    sample_grid(
        images, nrow=args.nrow, title=f"{args.path} [{args.split}] items 0..{len(images) - 1}", path=args.out, overwrite=args.overwrite
    )
    print(f"wrote {args.out}")
    return 0
