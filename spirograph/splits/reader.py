"""Reading split files: opening and checking them, their metadata, their items and a summary.

Layout (format ``spirograph-bench/splits``, version 3; version 2 stored each chunk digest as an
``S32`` string and had no ``metadata_sha256`` and no generator (it is Spirograph's), version 1
lacks ``chunk_digests`` too)::

    /                       attrs: format, format_version, package_version, generator,
                                   generator_version, seed, the generator's render options
                                   (Spirograph: resolution, n_points, extent, normalize), dtype,
                                   compression, splits (JSON list of group paths), space (JSON),
                                   config (JSON), complete, metadata_sha256 (see
                                   ``spirograph.splits.metadata``)
    /train, /test,          one group per split, attrs: split, stream, n, seed, generator,
    /shift/<family><level>    generator_version, the render options, dtype, package_version, content_names,
                              nuisance_names (JSON), content_ranges, nuisance_ranges (k, 2),
                              space (JSON: ranges and roles), checksum_images, checksum_content,
                              checksum_nuisance ("sha256:<hex>" of the values, C order,
                              little-endian), n_done; shift splits add shift_family, shift_level,
                              shift_target, mean_shift, width_change; metadata_sha256
        images   (N, 3, R, R)  uint8 (value / 255), float16 or float32
        content  (N, n_content)  float32, columns as in content_names
        nuisance (N, n_nuisance) float32, columns as in nuisance_names
        chunk_digests (K,)     records (start, stop, sha256 as 32 uint8): one per written chunk,
                               tiling 0..N (see ``spirograph.splits.digests``)

Without compression every dataset is contiguous (a batch of consecutive items is one read); with
compression, images are chunked by ~192 KiB along N so a random item decompresses little.
Files are written by ``spirograph.splits.writer.generate`` and checked by ``spirograph.splits.verify``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from .._io import live_holder
from .._validate import bad_value, check_int, one_line, unknown_name
from ..factors import FactorSpace
from ..generators import get as get_generator
from ..generators import list as list_generators
from ..shifts import SHIFT_PREFIX
from . import metadata
from .schema import DTYPES, FORMAT, FORMAT_VERSION, PARTIAL_SUFFIX, SplitSpec, decode, split_spec

SHIFT_KEYS = ("shift_family", "shift_level", "shift_target", "mean_shift", "width_change")

READ_CACHE_BYTES = 16 * 1024 * 1024  # chunk cache per dataset when reading compressed files


class SplitFileError(ValueError):
    """A file that is not a complete, readable split file written by ``generate``."""


@dataclass(frozen=True)
class SplitMeta:
    """What a split group declares: size, storage dtype, factor space, sampling and rendering."""

    name: str
    n: int
    dtype: str
    seed: int
    stream: str
    space: FactorSpace
    render_options: dict
    checksums: dict
    shift: dict = field(default_factory=dict)
    generator: str = "spirograph"
    generator_version: int = 1

    @property
    def spec(self) -> SplitSpec:
        """The split's ``SplitSpec``, with its shift ``(family, level)`` for a shift split."""
        shift = None
        if self.shift:
            shift = (str(self.shift["shift_family"]), float(self.shift["shift_level"]))
        return SplitSpec(self.name, self.n, self.space, self.stream, shift)

    @property
    def resolution(self) -> int:
        return int(self.render_options["resolution"])


def open_split_file(path: str | os.PathLike, *, cache_bytes: int = READ_CACHE_BYTES, check_metadata: bool = True) -> h5py.File:
    """Open a complete split file read-only, after checking that it is one.

    Args:
        path: the split file.
        cache_bytes: HDF5 chunk cache per dataset.
        check_metadata: refuse a file whose root attributes do not match their digest (format 3)
            or whose list of splits leaves out a split group it holds; ``verify`` reports these
            itself.

    Raises:
        FileNotFoundError: no file at ``path``.
        SplitFileError: not HDF5, truncated or unreadable, not written by ``generate``, from a
            newer format version, incomplete, being written, or with edited root attributes.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise bad_value("path", path, "a path to a split file")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    if not path.is_file():
        raise SplitFileError(f"{str(path)!r} is not a file")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError:
        is_hdf5 = False
    if not is_hdf5:
        raise SplitFileError(f"{str(path)!r} is not an HDF5 file")
    try:
        f = h5py.File(path, "r", rdcc_nbytes=cache_bytes)
    except OSError as err:
        _refuse_if_being_written(path)
        raise SplitFileError(f"{str(path)!r} cannot be read; truncated or corrupted? ({one_line(err)})") from None
    try:
        fmt = f.attrs.get("format")
        if fmt != FORMAT:
            raise SplitFileError(f"{str(path)!r} is not a Spirograph split file (format attribute {fmt!r}, expected {FORMAT!r})")
        version = int(f.attrs.get("format_version", -1))
        if not 1 <= version <= FORMAT_VERSION:
            raise SplitFileError(f"{str(path)!r} has format version {version}; this package reads versions 1..{FORMAT_VERSION}")
        if not bool(f.attrs.get("complete", False)):
            _refuse_if_being_written(path)
            raise SplitFileError(f"{str(path)!r} is incomplete (its writer did not finish; resume it with spirograph generate --resume)")
        split_names(f)
        if check_metadata:
            problem = root_problem(f)
            if problem is not None:
                raise SplitFileError(f"{str(path)!r}: {problem}")
    except SplitFileError:
        f.close()
        raise
    except (OSError, KeyError, ValueError, TypeError) as err:
        f.close()
        raise SplitFileError(f"{str(path)!r} has unreadable metadata; corrupted? ({one_line(err)})") from None
    return f


def _refuse_if_being_written(path: Path) -> None:
    """Raise if ``path`` is the partial file of a live ``generate`` (named by its pid)."""
    if not path.name.endswith(PARTIAL_SUFFIX):
        return
    pid = live_holder(path.with_name(path.name[: -len(PARTIAL_SUFFIX)]))
    if pid is not None:
        raise SplitFileError(f"{str(path)!r} is being written by process {pid} (spirograph generate); wait for it to finish")


def file_generator(f: h5py.File) -> tuple[str, int]:
    """The ``(name, version)`` of the generator that wrote ``f``; files without one (formats 1-2) are Spirograph's.

    Raises:
        SplitFileError: a generator this package does not have, or a version other than its own.
    """
    if "generator" not in f.attrs:
        return "spirograph", 1
    name, version = str(f.attrs["generator"]), int(f.attrs["generator_version"])
    try:
        spec = get_generator(name)
    except ValueError:
        raise SplitFileError(
            f"{f.filename!r} was written by generator {name!r} (version {version}), which this package does not have "
            f"(it has: {', '.join(list_generators())})"
        ) from None
    if spec.version != version:
        raise SplitFileError(
            f"{f.filename!r} was written by generator {name!r} version {version}; this package has version {spec.version}, "
            "which renders other pixels"
        )
    return name, version


def split_names(f: h5py.File) -> list[str]:
    """The split group paths a file declares, in writing order."""
    names = json.loads(f.attrs["splits"])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SplitFileError(f"{f.filename!r}: malformed 'splits' attribute")
    return names


def _split_groups(f: h5py.File) -> list[str]:
    """The groups of a file that are split groups (they carry a ``split`` attribute), top level and under ``shift/``."""
    found = []
    for name, item in f.items():
        if isinstance(item, h5py.Group):
            if "split" in item.attrs:
                found.append(name)
            elif name == SHIFT_PREFIX.rstrip("/"):
                found += [f"{name}/{sub}" for sub, child in item.items() if isinstance(child, h5py.Group) and "split" in child.attrs]
    return found


def root_problem(f: h5py.File) -> str | None:
    """Why the root's metadata cannot be trusted, or None: a split group left out of its list, or (format 3) a digest mismatch."""
    listed = set(split_names(f))
    unlisted = [name for name in _split_groups(f) if name not in listed]
    if unlisted:
        return f"the file's list of splits leaves out {', '.join(repr(n) for n in unlisted)}, which it holds (edited after writing?)"
    if int(f.attrs["format_version"]) >= 3:
        return metadata.root_problem(f)
    return None


def _split_problem(f: h5py.File, split: str, group: h5py.Group, space: FactorSpace) -> str | None:
    """Why a split's attributes contradict themselves, the file or (format 3) their digest; None when they agree."""
    a = group.attrs
    if str(a["split"]) != split:
        return f"its 'split' attribute says {str(a['split'])!r}"
    if int(a["seed"]) != int(f.attrs["seed"]):
        return f"its seed {int(a['seed'])} differs from the file's seed {int(f.attrs['seed'])}"
    for key, names in (("content_names", space.content), ("nuisance_names", space.nuisance)):
        if json.loads(a[key]) != list(names):
            return f"its {key} {json.loads(a[key])} differ from its factor space's ({', '.join(names)})"
    present = {k for k in SHIFT_KEYS if k in a}
    root_space = FactorSpace.from_dict(json.loads(f.attrs["space"]))
    if not split.startswith(SHIFT_PREFIX):
        if present:
            return f"a {split} split carries shift attributes ({', '.join(sorted(present))})"
        expected = root_space
    else:
        try:
            # The name is parsed against the file's unshifted space: ``space`` is this split's, already shifted.
            expected = split_spec(root_space, split, int(a["n"]))
            family, level = expected.shift
            expected = expected.space
        except ValueError:
            return "its name is not a shift split's name"
        if present != set(SHIFT_KEYS):
            return f"a shift split lacks shift attributes ({', '.join(sorted(set(SHIFT_KEYS) - present))})"
        if str(a["shift_family"]) != family or float(a["shift_level"]) != level:
            return f"its shift attributes say {str(a['shift_family'])} {float(a['shift_level']):+g}, its name {family} {level:+g}"
    # Every format: a split's factor ranges are the file's (shifted as its name says). Format 3's digests also
    # catch an edit made consistently to both; formats 1-2 have only this cross-check.
    if expected.generator == space.generator:
        for n in space.names:
            have, want = (space[n].low, space[n].high), (expected[n].low, expected[n].high)
            if have != want:
                source = "the file's factor space" + (" and the split's shift give" if split.startswith(SHIFT_PREFIX) else " gives")
                return f"its range of {n!r} {have} differs from the {want} that {source}"
    if int(f.attrs["format_version"]) >= 3:
        return metadata.split_problem(group)
    return None


def split_meta(f: h5py.File, split: str) -> SplitMeta:
    """Read and check the metadata and dataset shapes of one split.

    Raises:
        ValueError: ``split`` is not in the file (with a did-you-mean hint).
        SplitFileError: missing or inconsistent groups, datasets or attributes.
    """
    names = split_names(f)
    if split not in names:
        raise unknown_name("split", split, names)
    where = f"{f.filename!r}, split {split!r}"
    try:
        generator, generator_version = file_generator(f)
        group = f[split]
        a = group.attrs
        space = FactorSpace.from_dict(json.loads(a["space"]))
        problem = _split_problem(f, split, group, space)
        if problem is not None:
            raise SplitFileError(f"{where}: {problem}; the file was edited after it was written")
        if space.generator != generator:
            raise SplitFileError(f"{where}: its factor space is generator {space.generator!r}'s, the file's is {generator!r}")
        render_options = {k: a[k].item() if hasattr(a[k], "item") else a[k] for k in space.spec.options}
        meta = SplitMeta(
            name=split,
            n=int(a["n"]),
            dtype=str(a["dtype"]),
            seed=int(a["seed"]),
            stream=str(a["stream"]),
            space=space,
            render_options=render_options,
            checksums={k: str(a[f"checksum_{k}"]) for k in ("images", "content", "nuisance")},
            shift={k: a[k] for k in SHIFT_KEYS if k in a},
            generator=generator,
            generator_version=generator_version,
        )
        shapes = {
            "images": (meta.n, 3, meta.resolution, meta.resolution),
            "content": (meta.n, len(space.content)),
            "nuisance": (meta.n, len(space.nuisance)),
        }
        for key, shape in shapes.items():
            if group[key].shape != shape:
                raise SplitFileError(f"{where}: dataset {key!r} has shape {group[key].shape}, expected {shape}")
        if meta.dtype not in DTYPES or group["images"].dtype != np.dtype(meta.dtype):
            raise SplitFileError(f"{where}: images dtype {group['images'].dtype} does not match attribute {meta.dtype!r}")
        if int(a["n_done"]) != meta.n:
            raise SplitFileError(f"{where}: only {int(a['n_done'])} of {meta.n} items were written")
    except SplitFileError:
        raise
    except (KeyError, OSError, ValueError, TypeError) as err:
        raise SplitFileError(f"{where}: missing or malformed metadata; corrupted? ({one_line(err)})") from None
    return meta


def load_split(path: str | os.PathLike, split: str = "train", start: int = 0, stop: int | None = None):
    """Items ``start .. stop-1`` of a split, decoded.

    Returns:
        ``(images (n, 3, R, R) float32, content (n, n_content) float32, nuisance (n, n_nuisance)
        float32)`` tensors.
    """
    with open_split_file(path) as f:
        meta = split_meta(f, split)
        start = check_int("start", start, 0)
        stop = meta.n if stop is None else check_int("stop", stop, start)
        if stop > meta.n:
            raise bad_value("stop", stop, f"at most {meta.n} (the size of split {split!r})")
        group = f[split]
        try:
            images = decode(group["images"][start:stop], meta.dtype)
            return images, torch.from_numpy(group["content"][start:stop]), torch.from_numpy(group["nuisance"][start:stop])
        except OSError as err:
            raise SplitFileError(f"{str(path)!r}, split {split!r}: unreadable data; corrupted? ({one_line(err)})") from None


def info(path: str | os.PathLike) -> str:
    """A short multi-line summary of a split file: settings, roles and one line per split."""
    path = Path(path)
    with open_split_file(path) as f:
        a = f.attrs
        metas = [split_meta(f, s) for s in split_names(f)]
        space = FactorSpace.from_dict(json.loads(a["space"]))
        generator, version = file_generator(f)
        options = ", ".join(f"{k} {_option(a[k])}" for k in space.spec.options)
        lines = [
            f"{path.name}: {_size(path)}, written by spirograph-bench {a['package_version']} (format {int(a['format_version'])})",
            f"generator {generator} (version {version}), seed {int(a['seed'])}, {options}, dtype {a['dtype']}, compression {a['compression']}",
            f"content: {', '.join(space.content)}; nuisance: {', '.join(space.nuisance)}",
        ]
        width = max([22] + [len(m.name) for m in metas])
        lines.append(f"{'split':<{width}} {'items':>8}  {'images':<8} shift")
        for meta in metas:
            shift = "-"
            if meta.shift:
                family = {f.split_name: f for f in space.spec.shifts}.get(str(meta.shift["shift_family"]))
                label = family.title if family else str(meta.shift["shift_family"])
                names = [n for n in meta.space.nuisance if meta.space[n] != space[n]]
                ranges = ", ".join(f"{n}∈[{meta.space[n].low:g}, {meta.space[n].high:g}]" for n in names)
                shift = f"{label} {float(meta.shift['shift_level']):+g} ({ranges})"
            lines.append(f"{meta.name:<{width}} {meta.n:>8}  {meta.dtype:<8} {shift}")
    return "\n".join(lines)


def _option(value) -> str:
    value = value.item() if hasattr(value, "item") else value
    return f"{value:g}" if isinstance(value, float) else str(value)


def _size(path: Path) -> str:
    size = path.stat().st_size
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"  # pragma: no cover
