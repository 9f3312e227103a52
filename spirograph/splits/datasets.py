"""Map-style torch Datasets: one over a split file, one that renders items on demand.

Both return ``(image, target)`` with ``image`` a float32 tensor (3, R, R) and ``target`` the
content (n_content,), the nuisance (n_nuisance,) or both as a tuple, following torchvision's
``transform`` / ``target_transform`` conventions. ``SpirographRendered`` with the same seed,
split and ``dtype`` returns exactly what ``SpirographH5`` reads from a file ``generate`` wrote.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .._validate import bad_value, check_choice, check_int, one_line
from ..factors import FactorSpace
from ..generator import Generator
from .items import render_items, resolve_generator
from .reader import SplitFileError, open_split_file, split_meta
from .schema import DTYPES, decode, encode, split_spec, storage_dtype

TARGETS = ("content", "nuisance", "both")


class _SplitDataset(Dataset):
    """Shared target/transform handling and repr."""

    def _setup(self, target: str, transform, target_transform) -> None:
        self.target = check_choice("target", target, TARGETS)
        for name, fn in (("transform", transform), ("target_transform", target_transform)):
            if fn is not None and not callable(fn):
                raise bad_value(name, fn, "a callable or None")
        self.transform = transform
        self.target_transform = target_transform

    def _item(self, image: torch.Tensor, content: torch.Tensor, nuisance: torch.Tensor):
        target = {"content": content, "nuisance": nuisance, "both": (content, nuisance)}[self.target]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def _index(self, index) -> int:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an integer, not {type(index).__name__}")
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for {n} items")
        return int(index) % n

    def __repr__(self) -> str:
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}"]
        lines += ["    " + line for line in self.extra_repr().splitlines()]
        for name in ("transform", "target_transform"):
            if getattr(self, name) is not None:
                lines.append(f"    {name}: {getattr(self, name)!r}")
        return "\n".join(lines)

    def extra_repr(self) -> str:  # pragma: no cover - overridden
        return ""

    @property
    def content_names(self) -> tuple[str, ...]:
        return self._split.space.content

    @property
    def nuisance_names(self) -> tuple[str, ...]:
        return self._split.space.nuisance

    def __len__(self) -> int:
        return self._split.n


class SpirographH5(_SplitDataset):
    """A split of an HDF5 file written by ``spirograph.splits.generate``.

    The file is checked when the Dataset is built, then opened lazily, once per process, on first
    access: safe with ``DataLoader(num_workers > 0)`` (each worker opens its own handle).

    Args:
        path: the split file.
        split: group path, e.g. ``"train"``, ``"test"``, ``"shift/bg_mean+0.1"``.
        transform: callable applied to the image tensor (3, R, R) float32.
        target_transform: callable applied to the target.
        target: ``"content"`` (n_content,), ``"nuisance"`` (n_nuisance,) or ``"both"`` (a tuple).

    Raises:
        FileNotFoundError, SplitFileError: the file is missing or not a complete split file.
        ValueError: unknown split or target.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        split: str = "train",
        *,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        target: str = "content",
    ) -> None:
        self.path = Path(path) if isinstance(path, (str, os.PathLike)) else path
        self.split = split
        with open_split_file(path) as f:
            self.meta = split_meta(f, split)
        self._split = self.meta.spec
        self._setup(target, transform, target_transform)
        self._file = None
        self._arrays = None
        self._pid = None

    def _sources(self) -> dict:
        """Per-process readers of images/content/nuisance, opened on first use.

        Uncompressed datasets are contiguous in the file, so they are memory-mapped: a random
        batch is one numpy gather instead of one HDF5 selection per item. Chunked (compressed)
        datasets are read through h5py.
        """
        # A handle opened before a fork must not be shared: reopen in every new process.
        if self._file is None or self._pid != os.getpid():
            self._file = open_split_file(self.path)
            self._pid = os.getpid()
            group = self._file[self.split]
            self._arrays = {}
            for key in ("images", "content", "nuisance"):
                ds = group[key]
                offset = ds.id.get_offset()
                if ds.chunks is None and offset is not None and ds.size > 0:
                    self._arrays[key] = np.memmap(self.path, mode="r", dtype=ds.dtype, shape=ds.shape, offset=offset)
                else:
                    self._arrays[key] = ds
        return self._arrays

    def _read(self, key: str, selection):
        source = self._sources()[key]
        try:
            if isinstance(source, np.ndarray):
                return np.array(source[selection])  # a private copy: torch tensors must not alias the map
            if isinstance(selection, list):
                # h5py reads a sorted list of distinct rows in one call; map back to the request order.
                unique = sorted(set(selection))
                rows = source[unique]
                where = {value: k for k, value in enumerate(unique)}
                return rows[[where[i] for i in selection]]
            return source[selection]
        except OSError as err:
            raise SplitFileError(
                f"{str(self.path)!r}, split {self.split!r}: unreadable data; corrupted? ({one_line(err)})"
            ) from None

    def __getitem__(self, index: int):
        i = self._index(index)
        image = decode(self._read("images", i), self.meta.dtype)
        return self._item(image, torch.from_numpy(self._read("content", i)), torch.from_numpy(self._read("nuisance", i)))

    def __getitems__(self, indices: Sequence[int]) -> list:
        """Batched read used by ``DataLoader``: one read per batch (a slice when consecutive)."""
        idx = [self._index(i) for i in indices]
        if not idx:
            return []
        lo = min(idx)
        if sorted(idx) == list(range(lo, lo + len(idx))):
            selection, rows = slice(lo, lo + len(idx)), [i - lo for i in idx]
        else:
            selection, rows = idx, range(len(idx))
        images = decode(self._read("images", selection), self.meta.dtype)
        content, nuisance = torch.from_numpy(self._read("content", selection)), torch.from_numpy(self._read("nuisance", selection))
        return [self._item(images[r], content[r], nuisance[r]) for r in rows]

    def close(self) -> None:
        """Close this process's file handle (it reopens on the next access)."""
        if self._file is not None:
            self._file.close()
        self._file = None
        self._arrays = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_file"] = None  # h5py handles cannot be pickled (spawned DataLoader workers)
        state["_arrays"] = None
        state["_pid"] = None
        return state

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown may have torn h5py down
            self.close()

    def extra_repr(self) -> str:
        m = self.meta
        lines = [
            f"Path: {self.path}",
            f"Split: {self.split}" + (f" (shift {m.shift['shift_family']} {float(m.shift['shift_level']):+g})" if m.shift else ""),
            f"Images: (3, {m.resolution}, {m.resolution}) stored as {m.dtype}, generator {m.generator!r}, {_options(m.render_options)}",
            f"Target: {self.target} (content: {', '.join(self.content_names)}; nuisance: {', '.join(self.nuisance_names)})",
            f"Seed: {m.seed}",
        ]
        return "\n".join(lines)


class SpirographRendered(_SplitDataset):
    """A split rendered on demand: item i is drawn from ``(seed, split, i)`` and rendered.

    No file is needed; item i equals item i of the same split in a file written by ``generate``
    with the same seed, factor space, rendering options and ``dtype`` (images quantised the same
    way; ``dtype="float32"`` gives the renderer's exact output).

    Args:
        seed: non-negative integer.
        split: ``"train"``, ``"test"`` or a shift split such as ``"shift/h_mean-0.3"``.
        n: number of items (>= 1); default 100,000 for train and 20,000 otherwise (the paper's).
        space: factor ranges and roles (default: the generator's priors and roles).
        generator: a registered generator name (default: ``space``'s generator, else ``"spirograph"``).
        resolution: image side R.
        n_points, extent, normalize: Spirograph's render options (None: its defaults).
        options: further render options of the generator.
        dtype: storage dtype to mimic, one of ``uint8``, ``float16``, ``float32`` (default).
        transform, target_transform, target: as in ``SpirographH5``.
    """

    def __init__(
        self,
        seed: int,
        split: str = "train",
        *,
        n: int | None = None,
        space: FactorSpace | None = None,
        generator: str | None = None,
        resolution: int = 32,
        n_points: int | None = None,
        extent: float | None = None,
        normalize: str | None = None,
        options: dict | None = None,
        dtype: str = "float32",
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        target: str = "content",
    ) -> None:
        self.seed = check_int("seed", seed, 0)
        self.split = split
        n = (100_000 if split == "train" else 20_000) if n is None else check_int("n", n, 1)
        space, self.render_options = resolve_generator(
            space, generator, resolution, options, n_points=n_points, extent=extent, normalize=normalize
        )
        self.spec = self._split = split_spec(space, split, n, self.render_options)
        self.dtype = check_choice("dtype", dtype, DTYPES)
        self.stored_dtype = storage_dtype(dtype, self.spec.space)
        self._setup(target, transform, target_transform)

    def _render(self, lo: int, hi: int):
        images, content, nuisance = render_items(self.spec, self.seed, self.render_options, self.dtype, lo, hi)
        return decode(images, self.stored_dtype), torch.from_numpy(content), torch.from_numpy(nuisance)

    def __getitem__(self, index: int):
        i = self._index(index)
        images, content, nuisance = self._render(i, i + 1)
        return self._item(images[0], content[0], nuisance[0])

    def __getitems__(self, indices: Sequence[int]) -> list:
        """Batched rendering used by ``DataLoader``: one render call per batch."""
        idx = [self._index(i) for i in indices]
        if not idx:
            return []
        lo = min(idx)
        if sorted(idx) == list(range(lo, lo + len(idx))):
            images, content, nuisance = self._render(lo, lo + len(idx))
            return [self._item(images[i - lo], content[i - lo], nuisance[i - lo]) for i in idx]
        # Scattered indices: draw the items' factors in one vectorised pass, then render them
        # together (the renderer gives identical bits for an item whatever batch it is in).
        gen = Generator(space=self.spec.space, **self.render_options)
        content, nuisance = gen.sample_at(idx, seed=self.seed, stream=self.spec.stream)
        with torch.no_grad():
            images = decode(encode(gen.render(content, nuisance, validate=False), self.stored_dtype), self.stored_dtype)
        return [self._item(images[k], content[k], nuisance[k]) for k in range(len(idx))]

    def extra_repr(self) -> str:
        opts = self.render_options
        return "\n".join(
            [
                f"Split: {self.split} (seed {self.seed}, stream {self.spec.stream!r}), rendered on demand",
                f"Images: (3, {opts['resolution']}, {opts['resolution']}) as {self.stored_dtype}, "
                f"generator {self.spec.space.generator!r}, {_options(opts)}",
                f"Target: {self.target} (content: {', '.join(self.content_names)}; nuisance: {', '.join(self.nuisance_names)})",
            ]
        )


def _options(options: dict) -> str:
    """Render options other than the resolution, for reprs: ``n_points=40, extent=6.0, normalize='row'``."""
    return ", ".join(f"{k}={v!r}" for k, v in options.items() if k != "resolution")
