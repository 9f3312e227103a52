"""Datasets over split files and rendered on demand: equality, DataLoader workers, bad input."""

from __future__ import annotations

import pickle

import h5py
import pytest
import torch
from torch.utils.data import DataLoader

from spirograph.splits import SpirographH5, SpirographRendered, SplitFileError, generate, load_split


@pytest.fixture(scope="module")
def split_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ds") / "splits.h5"
    return generate(path, seed=11, train=40, test=12, shifts="bg_width:0.2,h_width:0.3", chunk_size=16, progress=False)


def test_items_match_the_file(split_file):
    images, content, nuisance = load_split(split_file, "train")
    ds = SpirographH5(split_file, "train")
    assert len(ds) == 40 and ds.content_names == ("m", "b", "sigma", "fg_r")
    for i in (0, 17, 39, -1):
        image, target = ds[i]
        assert image.dtype == torch.float32 and image.shape == (3, 32, 32)
        assert torch.equal(image, images[i]) and torch.equal(target, content[i])
    assert torch.equal(SpirographH5(split_file, "train", target="nuisance")[3][1], nuisance[3])
    both = SpirographH5(split_file, "train", target="both")[3][1]
    assert torch.equal(both[0], content[3]) and torch.equal(both[1], nuisance[3])


def test_transforms_and_repr(split_file):
    ds = SpirographH5(split_file, "shift/bg_width+0.2", transform=lambda x: x * 2, target_transform=lambda t: t.sum())
    image, target = ds[2]
    raw_image, raw_target = SpirographH5(split_file, "shift/bg_width+0.2")[2]
    assert torch.equal(image, raw_image * 2) and torch.equal(target, raw_target.sum())
    text = repr(ds)
    for fragment in ("SpirographH5", "Number of datapoints: 12", "shift/bg_width+0.2", "float32", "Seed: 11", "transform"):
        assert fragment in text


@pytest.mark.parametrize("split", ["train", "test", "shift/bg_width+0.2", "shift/h_width+0.3"])
def test_rendered_on_demand_equals_generate(split_file, split):
    stored = SpirographH5(split_file, split, target="both")
    rendered = SpirographRendered(11, split, n=len(stored), dtype="uint8", target="both")
    assert len(rendered) == len(stored)
    for i in (0, 5, len(stored) - 1):
        (a, (ca, na)), (b, (cb, nb)) = stored[i], rendered[i]
        assert torch.equal(a, b) and torch.equal(ca, cb) and torch.equal(na, nb)
    # Batched access (consecutive and scattered) gives the same items as single access.
    for indices in ([2, 3, 4], [7, 1, 1, 9]):
        for ds in (stored, rendered):
            batch = ds.__getitems__(indices)
            for i, (image, (content, _)) in zip(indices, batch):
                assert torch.equal(image, ds[i][0]) and torch.equal(content, ds[i][1][0])


def test_rendered_float32_is_exact_and_repr():
    from spirograph import Spirograph

    ds = SpirographRendered(3, "test", n=10)
    images, content, _ = Spirograph().items(10, seed=3, stream="test")
    assert torch.equal(ds[4][0], images[4]) and torch.equal(ds[4][1], content[4])
    assert len(SpirographRendered(3, "train")) == 100_000 and len(SpirographRendered(3, "test")) == 20_000
    assert "rendered on demand" in repr(ds) and "Number of datapoints: 10" in repr(ds)


def test_dataloader_with_two_workers(split_file):
    ds = SpirographH5(split_file, "train", target="both")
    ds[0]  # an open handle in the parent must not leak into the workers
    loader = DataLoader(ds, batch_size=8, shuffle=True, num_workers=2, generator=torch.Generator().manual_seed(0))
    seen = {}
    for images, (content, _) in loader:
        for image, row in zip(images, content):
            seen[tuple(row.tolist())] = image
    images, content, _ = load_split(split_file, "train")
    assert len(seen) == 40
    for i in range(40):
        assert torch.equal(seen[tuple(content[i].tolist())], images[i])
    rendered = DataLoader(SpirographRendered(11, "train", n=40, dtype="uint8"), batch_size=16, num_workers=2)
    assert torch.equal(torch.cat([b for b, _ in rendered]), images)


def test_pickles_without_its_handle(split_file):
    ds = SpirographH5(split_file, "test")
    first = ds[0][0]
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone[0][0], first)
    ds.close()
    assert torch.equal(ds[0][0], first)


def test_bad_input(split_file, tmp_path):
    with pytest.raises(ValueError, match="did you mean 'test'"):
        SpirographH5(split_file, "tset")
    with pytest.raises(ValueError, match="target='labels'"):
        SpirographH5(split_file, target="labels")
    with pytest.raises(ValueError, match="transform"):
        SpirographH5(split_file, transform="flip")
    ds = SpirographH5(split_file, "test")
    with pytest.raises(IndexError):
        ds[12]
    with pytest.raises(TypeError):
        ds[1.5]
    with pytest.raises(FileNotFoundError):
        SpirographH5(tmp_path / "missing.h5")
    text = tmp_path / "text.h5"
    text.write_text("no")
    with pytest.raises(SplitFileError, match="not an HDF5 file"):
        SpirographH5(text)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(split_file.read_bytes()[:50_000])
    with pytest.raises(SplitFileError, match="truncated"):
        SpirographH5(truncated)
    with pytest.raises(ValueError, match="seed=-1"):
        SpirographRendered(-1)
    with pytest.raises(ValueError, match="n=0"):
        SpirographRendered(0, n=0)
    with pytest.raises(ValueError, match="split="):
        SpirographRendered(0, "validation", n=3)
    with pytest.raises(ValueError, match="dtype='int8'"):
        SpirographRendered(0, n=3, dtype="int8")


def test_corrupted_compressed_data_is_a_clear_error(tmp_path):
    path = generate(tmp_path / "gz.h5", seed=1, train=64, test=8, compression="gzip", progress=False)
    with h5py.File(path, "r") as f:
        offset, size = f["train"]["images"].id.get_chunk_info(0).byte_offset, f["train"]["images"].id.get_chunk_info(0).size
    data = bytearray(path.read_bytes())
    data[offset : offset + size // 2] = bytes(size // 2)
    path.write_bytes(bytes(data))
    ds = SpirographH5(path, "train")
    with pytest.raises(SplitFileError, match="corrupted"):
        ds[0]
