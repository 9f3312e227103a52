"""Write split files: stream chunks to a temporary file beside OUT, resume, rename on success.

Memory stays bounded by one chunk per process (plus a window of ``2·workers`` chunks in flight),
whatever the number of images. After every chunk the writer records its digest
(``spirograph.splits.digests``) and the split's progress (``n_done``) in the temporary file
``OUT.partial`` and flushes it, so ``resume=True`` continues from the last complete chunk after
checking the digest of every chunk already on disk (a damaged one is rendered again). Item i
depends only on ``(seed, split, i)``: the datasets are identical for any chunk size, worker count or
resume point.

One writer per OUT: an exclusive lock (``OUT.lock``, see ``spirograph._io.exclusive_lock``) is
held from the first look at ``OUT.partial`` until OUT is in place, so a second writer is refused
with the first one's pid, and never deletes or adopts a live writer's partial file. An interrupt
(Ctrl-C, SIGTERM) or an I/O error (a full disk) keeps the partial file for ``resume=True``; any
other error removes it. Interrupts are never lost (``spirograph._signals``): one raised where
Python cannot deliver it is raised again after the chunk at hand, and one that arrives while the
finished file is moved into place waits until it is there (``InterruptedAfterWriting``). A run
killed between the two steps of that move leaves ``OUT.partial`` as a second name of OUT; the next
run removes it. Worker processes (``spirograph.splits.workers``) never see a terminal's Ctrl-C
and leave quietly when their parent is gone.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

from .. import _signals, generators
from .._io import check_output_path, exclusive_lock, exists_message, fsync_file, publish
from .._validate import bad_value, check_choice, check_int, option, os_reason
from .._version import __version__
from ..factors import FactorSpace
from ..generators import GeneratorSpec
from . import digests, metadata
from . import workers as workers_mod
from .items import render_items, resolve_generator
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


def _render_task(task):
    generator, space_dict, name, n, stream, seed, render_options, dtype, lo, hi = task
    generators.adopt(generator)  # a generator registered at run time in the parent
    spec = SplitSpec(name, n, FactorSpace.from_dict(space_dict), stream)
    return render_items(spec, seed, render_options, dtype, lo, hi)


def _config(specs, seed, render_options, dtype, compression, space) -> dict:
    """Everything that determines the datasets' bytes; a resumed run must match it exactly."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **space.spec.identity,
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
        "generator": config["generator"],
        "generator_version": config["generator_version"],
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
                **space.spec.identity,
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
        digests.create(group)
    metadata.record(f, [spec.name for spec in specs])
    f.flush()
    return f


def _open_partial(tmp: Path, config: dict, report: Callable[[str], None]) -> h5py.File | None:
    """Open a partial file for resuming; None if it cannot be read as HDF5 (start over).

    Raises:
        ValueError: the partial file was started with other settings or by another format version.
        OSError: another process has the file open (HDF5's own lock).
    """
    try:
        f = h5py.File(tmp, "r+")
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EACCES) or "lock" in str(err).lower():
            raise OSError(f"the partial file {str(tmp)!r} is open in another process; close it and rerun") from None
        report(f"the partial file {str(tmp)!r} cannot be read as HDF5; starting over")
        return None
    stored = f.attrs.get("config")
    try:
        version = int(f.attrs.get("format_version", -1))
    except (TypeError, ValueError):
        version = -1
    if version != FORMAT_VERSION:
        f.close()
        raise ValueError(
            f"the partial file {str(tmp)!r} was started by a writer of format version {version} (this one writes "
            f"{FORMAT_VERSION}); pass {option('overwrite')} to start over"
        )
    wanted = json.loads(json.dumps(config, sort_keys=True))
    if stored is None or json.loads(stored) != wanted:
        f.close()
        old = json.loads(stored) if stored is not None else {}
        differ = [key for key in wanted if old.get(key) != wanted[key]]
        what = f" (they differ in: {', '.join(differ)})" if differ else ""
        raise ValueError(
            f"the partial file {str(tmp)!r} was started with different settings{what}; "
            f"rerun with the same settings, or pass {option('overwrite')} to start over"
        )
    problems = [metadata.root_problem(f)]
    for split in config["splits"]:
        problems.append(metadata.split_problem(f[split["name"]]) if split["name"] in f else "a split group is missing")
    problem = next((p for p in problems if p is not None), None)
    if problem is not None:
        f.close()
        raise ValueError(f"the partial file {str(tmp)!r} cannot be resumed: {problem}; pass {option('overwrite')} to start over")
    return f


def _chunks(specs, done, chunk_size):
    for spec in specs:
        for lo in range(done[spec.name], spec.n, chunk_size):
            yield spec, lo, min(spec.n, lo + chunk_size)


def _results(tasks, workers, seed, render_options, dtype, generator):
    """Render ``tasks`` in order, in-process or in worker processes (``spirograph.splits.workers``).

    ``generator``: where workers import the file's generator (``generators.for_worker``; None for a built-in one).
    """
    if workers == 1:
        for spec, lo, hi in tasks:
            yield spec, lo, hi, render_items(spec, seed, render_options, dtype, lo, hi)
        return
    order = collections.deque()

    def payloads():
        for spec, lo, hi in tasks:
            order.append((spec, lo, hi))
            yield (generator, spec.space.to_dict(), spec.name, spec.n, spec.stream, seed, render_options, dtype, lo, hi)

    with workers_mod.Pool(workers) as pool:
        for arrays in pool.map(_render_task, payloads()):
            spec, lo, hi = order.popleft()
            yield spec, lo, hi, arrays


def generate(
    path: str | os.PathLike,
    *,
    seed: int,
    train: int = 100_000,
    test: int = 20_000,
    space: FactorSpace | None = None,
    generator: str | GeneratorSpec | None = None,
    resolution: int = 32,
    n_points: int | None = None,
    extent: float | None = None,
    normalize: str | None = None,
    options: dict | None = None,
    dtype: str = DEFAULT_DTYPE,
    shifts=None,
    compression: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    workers: int = 1,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool | None = None,
    on_chunk: Callable[[str, int, int], None] | None = None,
    report: Callable[[str], None] | None = None,
) -> Path:
    """Render the train, test and shift splits into one HDF5 file at ``path``.

    Args:
        path: output file; written as ``path + ".partial"`` and renamed on success.
        seed: non-negative integer; item i of split s depends only on (seed, s, i).
        train, test: number of items (>= 1); shift splits have ``test`` items.
        space: factor ranges and roles (default: the generator's priors and roles).
        generator: a registered generator name (default: ``space``'s generator, else ``"spirograph"``).
        resolution: image side R.
        n_points, extent, normalize: Spirograph's render options (None: its defaults; see
            ``spirograph.render``); other generators take theirs in ``options``.
        options: further render options of the generator (``spirograph generators`` lists them).
        dtype: image storage, one of ``DTYPES`` (default ``uint8``, error <= 1/510; splits whose
            colours leave [0, 1] are stored as float32 instead).
        shifts: shift splits to add (see ``spirograph.splits.parse_shifts``); default none.
        compression: ``None``, ``"gzip"`` or ``"lzf"``.
        chunk_size: images rendered and written per step (>= 1); does not change the output.
        workers: rendering processes (>= 1); does not change the output.
        overwrite: replace an existing file at ``path`` (and discard a stale partial file).
        resume: continue the partial file of an interrupted run with the same settings (it must
            exist); every chunk already in it is checked against its digest first and rendered
            again if it was damaged.
        progress: show a progress bar (default: when stderr is a terminal).
        on_chunk: called as ``on_chunk(split, done, n)`` after each flushed chunk.
        report: called with one line for each notable event (a damaged chunk rendered again, an
            unreadable partial file started over); default: silent.

    Returns:
        The path written.

    Raises:
        ValueError: bad arguments, or a partial file with different settings.
        FileExistsError: ``path`` exists and ``overwrite`` is false, or a partial file exists
            and neither ``resume`` nor ``overwrite`` is set.
        FileNotFoundError: ``resume`` without a partial file, or a missing output directory.
        spirograph._io.OutputLockedError: another live process is writing ``path`` (named by pid).
        OSError: the output directory is not writable, or an I/O error while writing (the
            partial file is kept for ``resume``).
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
    space, render_options = resolve_generator(space, generator, resolution, options, n_points=n_points, extent=extent, normalize=normalize)
    if workers > 1:
        generators.for_worker(space.spec, workers=workers)  # refused before anything is written
    specs = plan_splits(space, train, test, shifts, render_options)
    if not overwrite and path.exists():
        _drop_published_link_if_free(path)
        if resume:
            raise FileExistsError(_resume_over_existing(path))
    check_output_path(path, overwrite=overwrite)
    config = _config(specs, seed, render_options, dtype, compression, space)

    report = report or (lambda line: None)
    with _signals.interrupts(), exclusive_lock(path):
        _write(
            path,
            specs,
            config,
            seed,
            render_options,
            dtype,
            compression,
            chunk_size,
            workers,
            overwrite,
            resume,
            progress,
            on_chunk,
            report,
        )
    return path


class InterruptedAfterWriting(KeyboardInterrupt):
    """An interrupt that arrived while the finished file was moved into place: the file is complete."""


def _drop_published_link(tmp: Path, path: Path, report) -> None:
    """Remove ``OUT.partial`` if it is a second name of OUT (a run killed between publishing's link and unlink)."""
    try:
        same = os.path.samefile(tmp, path)
    except OSError:
        return
    if same:
        tmp.unlink()
        report(f"removed {str(tmp)!r}: it was a second name of the finished {str(path)!r} (its run was stopped as it published)")


def _drop_published_link_if_free(path: Path) -> None:
    """``_drop_published_link`` under the lock, unless a live writer holds it (then leave everything alone)."""
    tmp = partial_path(path)
    if tmp.exists():
        with contextlib.suppress(OSError), exclusive_lock(path):  # a live writer's lock: leave it all alone
            _drop_published_link(tmp, path, lambda line: None)


def _write(
    path, specs, config, seed, render_options, dtype, compression, chunk_size, workers, overwrite, resume, progress, on_chunk, report
):
    """Create or reopen ``OUT.partial``, fill it, publish it as OUT (the caller holds the lock)."""
    tmp = partial_path(path)
    _drop_published_link(tmp, path, report)
    if path.exists() and not overwrite:  # it appeared, or was published, since the first check
        raise FileExistsError(_resume_over_existing(path) if resume else exists_message(path))
    f = None
    if tmp.exists():
        if resume:
            try:
                f = _open_partial(tmp, config, report)
            except ValueError:
                if not overwrite:
                    raise
        elif not overwrite:
            raise FileExistsError(
                f"a partial file from an interrupted run exists at {str(tmp)!r}; pass {option('resume')} "
                f"to continue it or {option('overwrite')} to start over"
            )
    elif resume:
        raise FileNotFoundError(f"no partial file {str(tmp)!r} to resume; run without {option('resume')} to start a new file")
    if f is None:
        tmp.unlink(missing_ok=True)
        try:
            f = _create(tmp, specs, config, seed, render_options, dtype, compression)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    try:
        _fill(f, specs, chunk_size, workers, seed, render_options, dtype, progress, on_chunk, report)
        _signals.check()
        f.attrs["complete"] = True
        f.close()
        fsync_file(tmp)
        _signals.check()
        publish(tmp, path, overwrite=overwrite)  # an interrupt while publishing waits until it is done
    except KeyboardInterrupt:
        if not tmp.exists() and path.exists():
            raise InterruptedAfterWriting(f"interrupted after {str(path)!r} was written completely") from None
        # Keep the partial file: every flushed chunk in it can be resumed.
        with contextlib.suppress(Exception):
            f.close()
        raise
    except OSError as err:
        # A full disk or an I/O error: the flushed chunks are intact and each has its digest, so
        # keep them for --resume once the cause is fixed.
        with contextlib.suppress(Exception):
            f.close()
        if isinstance(err, FileExistsError):
            raise  # OUT appeared meanwhile: the finished partial file waits for --overwrite
        raise _kept(err, tmp) from None
    except BaseException:
        f.close()
        tmp.unlink(missing_ok=True)
        raise


def _resume_over_existing(path: Path) -> str:
    """Why ``resume`` without ``overwrite`` cannot go on when OUT exists."""
    tmp = partial_path(path)
    try:
        second_name = os.path.samefile(tmp, path)
    except OSError:
        second_name = False
    if tmp.exists() and not second_name:
        return (
            f"output {str(path)!r} exists; pass {option('overwrite')} with {option('resume')} to continue "
            f"{str(tmp)!r} and replace it"
        )
    return f"output {str(path)!r} is complete: there is nothing to resume (pass {option('overwrite')} to write it again)"


def _kept(err: OSError, tmp: Path) -> OSError:
    """One line for an I/O error while writing: what failed, and that the partial file is kept."""
    out = OSError(
        f"writing {str(tmp)!r} failed ({os_reason(err)}); the partial file is kept with every finished chunk: "
        f"fix the cause (free some space) and rerun with {option('resume')}"
    )
    out.errno = err.errno
    return out


def _write_chunk(group, lo: int, hi: int, arrays) -> None:
    """Store one rendered chunk and record its digest; ``n_done`` moves only after both."""
    for key, array in zip(digests.KEYS, arrays):
        group[key][lo:hi] = array
    digests.append(group, lo, hi, digests.chunk_digest(arrays))


def _check_resumed(group, spec, seed, render_options, dtype, hashers, report) -> int:
    """Check the chunks a resumed split already holds; render damaged ones again; return its items done.

    Chunks are read back record by record (bounded memory) and fed to the split's checksums.
    Records past the recorded progress (a chunk written but not counted) are dropped.
    """
    table = digests.records(group)
    count = digests.covered(table, int(group.attrs["n_done"]))
    digests.truncate(group, count)
    done = 0
    for index in range(count):
        _signals.check()
        lo, hi, stored = int(table[index]["start"]), int(table[index]["stop"]), digests.digest_of(table[index])
        arrays = digests.read_chunk(group, lo, hi)
        if digests.chunk_digest(arrays) != stored:
            report(f"{spec.name}: items {lo}..{hi - 1} do not match the digest recorded when they were written; rendering them again")
            arrays = render_items(spec, seed, render_options, dtype, lo, hi)
            for key, array in zip(digests.KEYS, arrays):
                group[key][lo:hi] = array
            digests.replace(group, index, digests.chunk_digest(arrays))
        for key, array in zip(digests.KEYS, arrays):
            checksum(array, hashers[key])
        done = hi
    group.attrs["n_done"] = done
    return done


def _fill(f, specs, chunk_size, workers, seed, render_options, dtype, progress, on_chunk, report) -> None:
    from tqdm.auto import tqdm

    hashers, done = {}, {}
    for spec in specs:
        hashers[spec.name] = {key: hashlib.sha256() for key in digests.KEYS}
        done[spec.name] = _check_resumed(f[spec.name], spec, seed, render_options, dtype, hashers[spec.name], report)
    f.flush()
    total = sum(s.n for s in specs)
    bar = tqdm(total=total, initial=sum(done.values()), unit="img", disable=(None if progress is None else not progress), leave=False)
    try:
        generator = generators.for_worker(specs[0].space.spec, workers=workers) if workers > 1 else None
        for spec, lo, hi, arrays in _results(_chunks(specs, done, chunk_size), workers, seed, render_options, dtype, generator):
            _signals.check()
            group = f[spec.name]
            _write_chunk(group, lo, hi, arrays)
            for key, array in zip(digests.KEYS, arrays):
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
