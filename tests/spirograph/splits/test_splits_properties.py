"""Property-based tests of the split file: any sizes, chunk sizes, workers, dtypes, shifts and seeds.

Each example writes a small file and checks what every file must satisfy: it verifies, and its
datasets equal the items rendered in one piece (what the default chunk size writes for splits this
small), also after an interruption at any chunk and a resume. The ``ci`` hypothesis profile
(tests/conftest.py) draws a fixed set of examples; ``HYPOTHESIS_PROFILE=dev`` draws many more.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import h5py
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spirograph import FactorSpace, Spirograph
from spirograph.splits import DTYPES, SHIFT_FAMILIES, generate, partial_path, plan_splits, verify
from spirograph.splits.items import render_items

SHIFTS = [(name, level) for name, family in SHIFT_FAMILIES.items() for level in family.split_levels[:2]]

files = st.fixed_dictionaries(
    {
        "train": st.integers(1, 40),
        "test": st.integers(1, 24),
        "chunk_size": st.integers(1, 17),
        "workers": st.sampled_from([1, 1, 2]),  # a worker pool costs process starts: drawn a third of the time
        "dtype": st.sampled_from(DTYPES),
        "shifts": st.lists(st.sampled_from(SHIFTS), max_size=2, unique=True),
        "seed": st.one_of(st.integers(0, 2**32), st.integers(0, 2**63 - 1)),
        "resolution": st.sampled_from([8, 32]),
        "compression": st.sampled_from([None, "gzip", "lzf"]),
    }
)


def _expected(kwargs) -> dict:
    """Every dataset of the file ``kwargs`` describes, rendered in one piece per split."""
    space = FactorSpace()
    options = Spirograph(space, resolution=kwargs["resolution"]).render_options()
    out = {}
    for spec in plan_splits(space, kwargs["train"], kwargs["test"], kwargs["shifts"]):
        arrays = render_items(spec, kwargs["seed"], options, kwargs["dtype"], 0, spec.n)
        for key, array in zip(("images", "content", "nuisance"), arrays):
            out[f"{spec.name}/{key}"] = (array.dtype.str, array.shape, array.tobytes())
    return out


def _stored(path) -> dict:
    with h5py.File(path, "r") as f:
        return {
            f"{name}/{key}": (f[name][key].dtype.str, f[name][key].shape, f[name][key][()].tobytes())
            for name in json.loads(f.attrs["splits"])
            for key in ("images", "content", "nuisance")
        }


def _chunks(kwargs) -> int:
    sizes = [kwargs["train"], kwargs["test"]] + [kwargs["test"]] * len(kwargs["shifts"])
    return sum(-(-n // kwargs["chunk_size"]) for n in sizes)


@given(kwargs=files)
def test_every_file_verifies_and_holds_the_items_of_one_piece(kwargs):
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "p.h5"
        generate(out, progress=False, **kwargs)
        report = verify(out, sample=4)
        assert report.ok, report.problems
        assert _stored(out) == _expected(kwargs)


@given(kwargs=files, data=st.data())
def test_an_interrupted_file_resumes_to_the_same_datasets(kwargs, data):
    stop_after = data.draw(st.integers(1, _chunks(kwargs)), label="interrupted after chunk")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "p.h5"
        seen = []

        def interrupt(split, done, n):
            seen.append(split)
            if len(seen) == stop_after:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            generate(out, progress=False, on_chunk=interrupt, **kwargs)
        assert not out.exists() and partial_path(out).exists()
        notes = []
        # The worker count never changes the output: resuming in-process saves a second pool start.
        generate(out, progress=False, resume=True, report=notes.append, **{**kwargs, "workers": 1})
        assert notes == []  # no good chunk is taken for a damaged one
        report = verify(out, sample=4)
        assert report.ok, report.problems
        assert _stored(out) == _expected(kwargs)
        assert sorted(p.name for p in Path(folder).iterdir()) == ["p.h5"]
