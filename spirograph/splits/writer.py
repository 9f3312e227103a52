"""Write split files: stream chunks to a temporary file beside OUT, resume, rename on success.

Memory stays bounded by one chunk per process (plus a window of ``2·workers`` chunks in flight),
whatever the number of images. Progress is recorded after every flushed chunk in the temporary
file's attributes (``n_done`` per split), so ``resume=True`` continues from the last complete
chunk. Item i depends only on ``(seed, split, i)``: output is identical for any chunk size, worker
count or resume point.
"""

from __future__ import annotations

import collections
import hashlib
import json
import multiprocessing
import os
import signal
import threading
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import torch

from .._io import check_output_path, fsync_file, publish
from .._validate import bad_value, check_choice, check_int
from .._version import __version__
from ..factors import FactorSpace
from ..generator import Spirograph
from .items import render_items
from .schema import (
    DEFAULT_DTYPE,
    DTYPES,
    FACTOR_DTYPE,
    FORMAT,
    FORMAT_VERSION,
    SplitSpec,
    checksum,
    partial_path,
    plan_splits,
    storage_dtype,
)

COMPRESSIONS = ("gzip", "lzf")
DEFAULT_CHUNK = 4096  # images rendered and written per step: ~50 MB of float32 work at R = 32
_CHUNK_BYTES = 192 * 1024  # target size of one HDF5 storage chunk when compressing


def _worker_init() -> None:
    # Workers share the cores: one thread each; Ctrl-C is handled once, by the parent.
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _render_task(task):
    space_dict, name, n, stream, seed, render_options, dtype, lo, hi = task
    spec = SplitSpec(name, n, FactorSpace.from_dict(space_dict), stream)
    return render_items(spec, seed, render_options, dtype, lo, hi)


def _config(specs, seed, render_options, dtype, compression, space) -> dict:
    """Everything that determines the datasets' bytes; a resumed run must match it exactly."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "render": render_options,
        "dtype": dtype,
        "compression": compression,
        "space": space.to_dict(),
        "splits": [{"name": s.name, "n": s.n, "stream": s.stream, "space": s.space.to_dict()} for s in specs],
    }


def _create(tmp: Path, specs, config: dict, seed, render_options, dtype, compression) -> h5py.File:
    f = h5py.File(tmp, "w")
    root = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "seed": seed,
        "dtype": dtype,
        "compression": compression or "none",
        "splits": json.dumps([s.name for s in specs]),
        "space": json.dumps(config["space"]),
        "config": json.dumps(config, sort_keys=True),
        "complete": False,
        **render_options,
    }
    f.attrs.update(root)
    res = render_options["resolution"]
    for spec in specs:
        group = f.create_group(spec.name)
        stored = storage_dtype(dtype, spec.space)
        space = spec.space
        group.attrs.update(
            {
                "split": spec.name,
                "stream": spec.stream,
                "n": spec.n,
                "seed": seed,
                "dtype": stored,
                "package_version": __version__,
                "content_names": json.dumps(space.content),
                "nuisance_names": json.dumps(space.nuisance),
                "content_ranges": np.array([[space[c].low, space[c].high] for c in space.content], dtype=np.float64).reshape(-1, 2),
                "nuisance_ranges": np.array([[space[c].low, space[c].high] for c in space.nuisance], dtype=np.float64).reshape(-1, 2),
                "space": json.dumps(space.to_dict()),
                "n_done": 0,
                **render_options,
                **spec.describe_shift(),
            }
        )
        image_bytes = 3 * res * res * np.dtype(stored).itemsize
        layout = {}
        if compression:
            rows = max(1, min(spec.n, 2 ** int(np.log2(max(1, _CHUNK_BYTES // image_bytes)))))
            layout = {"compression": compression, "shuffle": compression == "gzip"}
            if compression == "gzip":
                layout["compression_opts"] = 4
        images = group.create_dataset(
            "images", (spec.n, 3, res, res), dtype=stored, chunks=(rows, 3, res, res) if compression else None, **layout
        )
        images.attrs["encoding"] = "value / 255 (stored floor(clip(x, 0, 1) * 255 + 0.5))" if stored == "uint8" else "value"
        for key, names in (("content", space.content), ("nuisance", space.nuisance)):
            chunks = (min(spec.n, 4096), max(1, len(names))) if compression and names else None
            ds = group.create_dataset(key, (spec.n, len(names)), dtype=FACTOR_DTYPE, chunks=chunks, **(layout if chunks else {}))
            ds.attrs["columns"] = json.dumps(names)
    f.flush()
    return f


def _open_partial(tmp: Path, config: dict) -> h5py.File | None:
    """Open a partial file for resuming; None if it cannot be read (start over)."""
    try:
        f = h5py.File(tmp, "r+")
    except OSError:
        return None
    stored = f.attrs.get("config")
    if stored is None or json.loads(stored) != json.loads(json.dumps(config, sort_keys=True)):
        f.close()
        raise ValueError(
            f"the partial file {str(tmp)!r} was started with different settings; "
            "rerun with the same settings, or pass --overwrite (overwrite=True) to start over"
        )
    return f


def _chunks(specs, done, chunk_size):
    for spec in specs:
        for lo in range(done[spec.name], spec.n, chunk_size):
            yield spec, lo, min(spec.n, lo + chunk_size)


def _results(tasks, workers, seed, render_options, dtype):
    """Render ``tasks`` in order, in-process or with a bounded window of worker processes."""
    if workers == 1:
        for spec, lo, hi in tasks:
            yield spec, lo, hi, render_items(spec, seed, render_options, dtype, lo, hi)
        return
    context = multiprocessing.get_context("spawn")  # fork after OpenMP threads started can hang
    with context.Pool(workers, initializer=_worker_init) as pool:
        pending = collections.deque()

        def submit():
            task = next(tasks, None)
            if task is not None:
                spec, lo, hi = task
                payload = (spec.space.to_dict(), spec.name, spec.n, spec.stream, seed, render_options, dtype, lo, hi)
                pending.append((spec, lo, hi, pool.apply_async(_render_task, (payload,))))

        for _ in range(2 * workers):
            submit()
        while pending:
            spec, lo, hi, result = pending.popleft()
            arrays = result.get()
            submit()
            yield spec, lo, hi, arrays


def generate(
    path: str | os.PathLike,
    *,
    seed: int,
    train: int = 100_000,
    test: int = 20_000,
    space: FactorSpace | None = None,
    resolution: int = 32,
    n_points: int = 40,
    extent: float = 6.0,
    normalize: str = "row",
    dtype: str = DEFAULT_DTYPE,
    shifts=None,
    compression: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    workers: int = 1,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool | None = None,
    on_chunk: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Render the train, test and shift splits into one HDF5 file at ``path``.

    Args:
        path: output file; written as ``path + ".partial"`` and renamed on success.
        seed: non-negative integer; item i of split s depends only on (seed, s, i).
        train, test: number of items (>= 1); shift splits have ``test`` items.
        space: factor ranges and roles (default PROTOCOL.md §1).
        resolution, n_points, extent, normalize: rendering options (see ``spirograph.render``).
        dtype: image storage, one of ``DTYPES`` (default ``uint8``, error <= 1/510; splits whose
            colours leave [0, 1] are stored as float32 instead).
        shifts: shift splits to add (see ``spirograph.splits.parse_shifts``); default none.
        compression: ``None``, ``"gzip"`` or ``"lzf"``.
        chunk_size: images rendered and written per step (>= 1); does not change the output.
        workers: rendering processes (>= 1); does not change the output.
        overwrite: replace an existing file at ``path`` (and discard a stale partial file).
        resume: continue the partial file of an interrupted run with the same settings.
        progress: show a progress bar (default: when stderr is a terminal).
        on_chunk: called as ``on_chunk(split, done, n)`` after each flushed chunk.

    Returns:
        The path written.

    Raises:
        ValueError: bad arguments, or a partial file with different settings.
        FileExistsError: ``path`` exists and ``overwrite`` is false, or a partial file exists
            and neither ``resume`` nor ``overwrite`` is set.
        OSError: the output directory is missing or not writable.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise bad_value("path", path, "a file path")
    path = Path(path)
    seed = check_int("seed", seed, 0)
    train = check_int("train", train, 1)
    test = check_int("test", test, 1)
    chunk_size = check_int("chunk_size", chunk_size, 1)
    workers = check_int("workers", workers, 1)
    check_choice("dtype", dtype, DTYPES)
    if compression in ("none", ""):
        compression = None
    if compression is not None:
        check_choice("compression", compression, COMPRESSIONS + ("none",))
    space = FactorSpace() if space is None else space
    render_options = Spirograph(space, resolution=resolution, n_points=n_points, extent=extent, normalize=normalize).render_options()
    specs = plan_splits(space, train, test, shifts)
    check_output_path(path, overwrite=overwrite)
    config = _config(specs, seed, render_options, dtype, compression, space)

    tmp = partial_path(path)
    f = None
    if tmp.exists():
        if resume:
            try:
                f = _open_partial(tmp, config)
            except ValueError:
                if not overwrite:
                    raise
        elif not overwrite:
            raise FileExistsError(
                f"a partial file from an interrupted run exists at {str(tmp)!r}; pass --resume (resume=True) "
                "to continue it or --overwrite (overwrite=True) to start over"
            )
    if f is None:
        tmp.unlink(missing_ok=True)
        try:
            f = _create(tmp, specs, config, seed, render_options, dtype, compression)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    previous_term = _sigterm_as_interrupt()
    try:
        _fill(f, specs, chunk_size, workers, seed, render_options, dtype, progress, on_chunk)
        f.attrs["complete"] = True
        f.close()
        fsync_file(tmp)
        publish(tmp, path, overwrite=overwrite)
    except KeyboardInterrupt:
        # Keep the partial file: every flushed chunk in it can be resumed.
        f.close()
        raise
    except BaseException:
        f.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
    return path


def _sigterm_as_interrupt():
    """Treat SIGTERM like Ctrl-C while writing (partial file kept); returns the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


def _fill(f, specs, chunk_size, workers, seed, render_options, dtype, progress, on_chunk) -> None:
    from tqdm.auto import tqdm

    done = {s.name: int(f[s.name].attrs["n_done"]) for s in specs}
    hashers = {}
    for spec in specs:
        group = f[spec.name]
        hashers[spec.name] = {key: hashlib.sha256() for key in ("images", "content", "nuisance")}
        # A resumed split re-hashes what is already on disk, block by block (bounded memory).
        for lo in range(0, done[spec.name], chunk_size):
            hi = min(done[spec.name], lo + chunk_size)
            for key, hasher in hashers[spec.name].items():
                checksum(group[key][lo:hi], hasher)
    total = sum(s.n for s in specs)
    bar = tqdm(total=total, initial=sum(done.values()), unit="img", disable=(None if progress is None else not progress), leave=False)
    try:
        for spec, lo, hi, arrays in _results(_chunks(specs, done, chunk_size), workers, seed, render_options, dtype):
            group = f[spec.name]
            for key, array in zip(("images", "content", "nuisance"), arrays):
                group[key][lo:hi] = array
                checksum(array, hashers[spec.name][key])
            group.attrs["n_done"] = hi
            f.flush()
            bar.update(hi - lo)
            if on_chunk is not None:
                on_chunk(spec.name, hi, spec.n)
            if hi == spec.n:
                _seal(group, hashers[spec.name])
        for spec in specs:
            if spec.n == done[spec.name]:  # finished before a resume: checksums from the re-hash
                _seal(f[spec.name], hashers[spec.name])
    finally:
        bar.close()


def _seal(group, hashers) -> None:
    for key, hasher in hashers.items():
        group.attrs[f"checksum_{key}"] = "sha256:" + hasher.hexdigest()
