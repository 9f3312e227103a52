"""Memory bank: momentum update against a loop reference, duplicates, validation, DDP consistency."""

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from spirograph_baselines.memory_bank import MemoryBank


def _reference_update(vectors, graph, index, embeddings, rows, momentum):
    vectors, graph = vectors.clone(), graph.clone()
    last = {int(i): b for b, i in enumerate(index)}  # the last occurrence wins
    for i, b in last.items():
        e = embeddings[b] / embeddings[b].norm()
        mixed = momentum * vectors[i] + (1 - momentum) * e
        vectors[i] = mixed / mixed.norm()
        if rows is not None:
            graph[i] = rows[b]
    return vectors, graph


def test_initial_bank_is_unit_norm_seeded_and_graph_unknown():
    a, b, c = MemoryBank(50, 16, seed=3), MemoryBank(50, 16, seed=3), MemoryBank(50, 16, seed=4)
    assert torch.allclose(a.vectors.norm(dim=1), torch.ones(50))
    assert torch.equal(a.vectors, b.vectors) and not torch.equal(a.vectors, c.vectors)
    assert torch.equal(a.graph, torch.arange(50).unsqueeze(1).repeat(1, 4))
    assert a.nbytes == 50 * 16 * 4 + 50 * 4 * 8


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_update_matches_reference_with_duplicate_indices(momentum):
    bank = MemoryBank(30, 8, neighbours=3, momentum=momentum, seed=1)
    g = torch.Generator().manual_seed(2)
    index = torch.tensor([4, 7, 4, 29, 0, 7])
    emb = torch.randn(6, 8, generator=g)
    rows = torch.randint(0, 30, (6, 3), generator=g)
    ref_v, ref_g = _reference_update(bank.vectors, bank.graph, index, emb, rows, momentum)
    bank.update(index, emb, rows)
    assert torch.allclose(bank.vectors, ref_v, atol=1e-6)
    assert torch.equal(bank.graph, ref_g)


def test_update_without_graph_rows_keeps_graph_and_detaches():
    bank = MemoryBank(10, 4, seed=0)
    emb = torch.randn(3, 4, requires_grad=True)
    bank.update(torch.tensor([1, 2, 3]), emb)
    assert torch.equal(bank.graph, torch.arange(10).unsqueeze(1).repeat(1, 4))
    assert not bank.vectors.requires_grad


def test_state_dict_round_trip_restores_bank():
    bank = MemoryBank(12, 4, neighbours=2, seed=0)
    bank.update(torch.tensor([0, 5]), torch.randn(2, 4), torch.tensor([[1, 2], [3, 4]]))
    other = MemoryBank(12, 4, neighbours=2, seed=9)
    other.load_state_dict(bank.state_dict())
    assert torch.equal(other.vectors, bank.vectors) and torch.equal(other.graph, bank.graph)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"size": 1}, "size"), ({"dim": 0}, "dim"), ({"momentum": 1.0}, "momentum"), ({"momentum": -0.1}, "momentum"), ({"neighbours": 0}, "neighbours"), ({"seed": -1}, "seed")],
)
def test_constructor_rejects_bad_arguments(kwargs, match):
    settings = {"size": 10, "dim": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        MemoryBank(**settings)


def test_update_rejects_bad_inputs_and_leaves_bank_untouched():
    bank = MemoryBank(10, 4, neighbours=2, seed=0)
    before = bank.vectors.clone()
    with pytest.raises(ValueError, match="index"):
        bank.update(torch.tensor([0, 10]), torch.randn(2, 4))
    with pytest.raises(ValueError, match="index"):
        bank.update(torch.tensor([0.0, 1.0]), torch.randn(2, 4))
    with pytest.raises(ValueError, match="embeddings.shape"):
        bank.update(torch.tensor([0, 1]), torch.randn(2, 5))
    with pytest.raises(ValueError, match="graph_rows.shape"):
        bank.update(torch.tensor([0, 1]), torch.randn(2, 4), torch.zeros(2, 3, dtype=torch.long))
    assert torch.equal(bank.vectors, before)


def _rank_updates(rank):
    # Ranks contribute different batch sizes and overlap on item 3, to exercise padding and duplicates.
    g = torch.Generator().manual_seed(100 + rank)
    index = torch.tensor([[3, 1, 8], [5, 3]][rank])
    return index, torch.randn(len(index), 6, generator=g), torch.randint(0, 20, (len(index), 2), generator=g)


def _worker(rank, world, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        bank = MemoryBank(20, 6, neighbours=2, seed=7)
        for _ in range(2):
            bank.update(*_rank_updates(rank))
        torch.save({"vectors": bank.vectors, "graph": bank.graph}, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_ranks_hold_identical_banks_equal_to_single_process_on_concatenated_batch(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    assert torch.equal(r0["vectors"], r1["vectors"]) and torch.equal(r0["graph"], r1["graph"])
    single = MemoryBank(20, 6, neighbours=2, seed=7)
    parts = [_rank_updates(r) for r in range(2)]
    for _ in range(2):
        single.update(*(torch.cat(t) for t in zip(*parts)))
    assert torch.allclose(r0["vectors"], single.vectors, atol=1e-6)
    assert torch.equal(r0["graph"], single.graph)
