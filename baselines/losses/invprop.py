"""Invariance Propagation losses: background set, kNN graph, propagation, hard positives (pure functions).

Invariance Propagation (Wang et al., NeurIPS 2020; PROTOCOL.md §8) compares each item's current
embedding v_i (B, d, L2-normalised) with a memory bank v̄ (N, d) of past embeddings:

    s_ij  = v_iᵀ v̄_j                                    similarity to every bank entry
    top-M = the M bank entries with the largest s_ij     the background set
    L_ins = −log( exp(s_ii/τ) / Σ_{j∈top-M} exp(s_ij/τ) )
    L_inv = −log( Σ_{p∈hard} exp(s_ip/τ) / Σ_{j∈top-M, j≠i} exp(s_ij/τ) )

The positives come from a k-nearest-neighbour graph over the bank: each item's row of the graph
is refreshed from the top of its own background set whenever it is visited, and positives are
discovered by following the graph L steps from i (neighbours, neighbours of neighbours, ...).
Among the discovered *set* (duplicates and i itself removed) the P entries least similar to v_i
are the hard positives.

Everything is batched over the B anchors: the only Python loop runs over the L propagation steps.
Ratios are evaluated as differences of log-sum-exps, which equal the formulas above without their
overflow risk. Because the hard positives are distinct entries other than i and P <= M − 1, the
invariance ratio never exceeds 1, so L_inv >= 0 (and L_ins >= 0 always).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from spirograph._validate import bad_value, check_int, check_positive_float

TEMPERATURE = 0.2
BACKGROUND_SIZE = 4096
NEIGHBOURS = 4
STEPS = 3
POSITIVES = 20


def similarities(embeddings: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """Cosine similarities s = v v̄ᵀ between normalised embeddings and the bank.

    Args:
        embeddings: L2-normalised embeddings v (B, d).
        bank: L2-normalised bank vectors v̄ (N, d), no gradient needed.

    Returns:
        Tensor (B, N); the working set of a step is this matrix, B·N·4 bytes in float32.

    Raises:
        ValueError: if the shapes do not match.
    """
    if embeddings.ndim != 2 or bank.ndim != 2 or embeddings.shape[1] != bank.shape[1]:
        raise bad_value("embeddings.shape", (tuple(embeddings.shape), tuple(bank.shape)), "(B, d) and a bank (N, d) of equal d")
    return embeddings @ bank.detach().t()


def background(sim: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The background set: the ``size`` bank entries most similar to each anchor.

    Args:
        sim: similarities (B, N).
        size: M, the background size (1 <= M <= N).

    Returns:
        ``(values (B, M), indices (B, M))`` in no particular order (the losses only sum over the
        set, and an unsorted top-M is 2-3x cheaper on CPU); ``values`` keep the gradient of ``sim``.

    Raises:
        ValueError: if ``size`` is not in [1, N].
    """
    size = check_int("background_size", size, 1)
    if size > sim.shape[1]:
        raise bad_value("background_size", size, f"at most the bank size {sim.shape[1]}")
    return sim.topk(size, dim=1, largest=True, sorted=False)


def _check_index(index: torch.Tensor, sim: torch.Tensor) -> None:
    if index.ndim != 1 or index.shape[0] != sim.shape[0] or index.dtype not in (torch.int64, torch.int32):
        raise bad_value("index", tuple(index.shape), f"an integer tensor ({sim.shape[0]},) of bank rows")


def instance_loss(sim: torch.Tensor, index: torch.Tensor, background_values: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """L_ins averaged over the batch (PROTOCOL.md §8).

    Args:
        sim: similarities (B, N).
        index: bank row of each anchor (B,), int64.
        background_values: similarities of the background set (B, M), from :func:`background`.
        temperature: τ > 0.

    Returns:
        Scalar tensor >= 0.

    Raises:
        ValueError: on mismatched shapes or a non-positive temperature.
    """
    _check_index(index, sim)
    temperature = check_positive_float("temperature", temperature)
    own = sim.gather(1, index.long().unsqueeze(1)).squeeze(1) / temperature
    return (torch.logsumexp(background_values / temperature, dim=1) - own).mean()


def nearest_neighbours(sim: torch.Tensor, index: torch.Tensor, k: int = NEIGHBOURS) -> torch.Tensor:
    """The k bank entries most similar to each anchor other than itself: its new row of the kNN graph.

    The top k + 1 entries of the anchor's similarity row, with i removed if present, otherwise
    the top k.

    Args:
        sim: similarities (B, N), N > k.
        index: bank row of each anchor (B,).
        k: neighbours per node (>= 1).

    Returns:
        Tensor (B, k), int64, by decreasing similarity.

    Raises:
        ValueError: if k >= N.
    """
    k = check_int("neighbours", k, 1)
    if k >= sim.shape[1]:
        raise bad_value("neighbours", k, f"fewer than the bank size {sim.shape[1]}")
    top = sim.detach().topk(k + 1, dim=1, largest=True, sorted=True).indices
    is_self = (top == index.long().unsqueeze(1)).to(torch.int8)
    # A stable sort on the self flag moves i (if present) to the end and keeps the others in order.
    order = torch.sort(is_self, dim=1, stable=True).indices
    return top.gather(1, order)[:, :k]


def propagate(graph: torch.Tensor, index: torch.Tensor, steps: int = STEPS) -> torch.Tensor:
    """Follow the kNN graph ``steps`` hops from each anchor (breadth first, duplicates kept).

    Args:
        graph: kNN graph (N, k), int64; row j lists the neighbours of bank entry j.
        index: anchors (B,).
        steps: L >= 1.

    Returns:
        Tensor (B, k + k² + ... + k^L) of discovered bank rows, hop by hop.

    Raises:
        ValueError: if ``steps`` < 1 or ``graph`` is not 2-D.
    """
    steps = check_int("steps", steps, 1)
    if graph.ndim != 2:
        raise bad_value("graph.shape", tuple(graph.shape), "a 2-D tensor (N, k)")
    batch = index.shape[0]
    frontier = graph[index.long()]
    hops = [frontier]
    for _ in range(steps - 1):
        frontier = graph[frontier.reshape(-1)].reshape(batch, -1)
        hops.append(frontier)
    return torch.cat(hops, dim=1)


def hard_positives(sim: torch.Tensor, index: torch.Tensor, discovered: torch.Tensor, count: int = POSITIVES) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``count`` least similar distinct discovered entries other than the anchor itself.

    Args:
        sim: similarities (B, N).
        index: anchors (B,).
        discovered: propagated bank rows (B, T), from :func:`propagate`.
        count: P >= 1.

    Returns:
        ``(positives (B, min(P, T)), valid (B, min(P, T)))``: bank rows ordered from the least
        similar, and a mask that is False where a row found fewer than P distinct entries.

    Raises:
        ValueError: if ``count`` < 1 or the shapes disagree.
    """
    count = check_int("positives", count, 1)
    _check_index(index, sim)
    if discovered.ndim != 2 or discovered.shape[0] != sim.shape[0]:
        raise bad_value("discovered.shape", tuple(discovered.shape), f"({sim.shape[0]}, T)")
    ordered = discovered.sort(dim=1).values
    invalid = ordered == index.long().unsqueeze(1)
    invalid[:, 1:] |= ordered[:, 1:] == ordered[:, :-1]
    candidate = sim.detach().gather(1, ordered).masked_fill(invalid, float("inf"))
    values, where = candidate.topk(min(count, ordered.shape[1]), dim=1, largest=False, sorted=True)
    return ordered.gather(1, where), torch.isfinite(values)


def invariance_loss(
    sim: torch.Tensor,
    index: torch.Tensor,
    background_values: torch.Tensor,
    background_indices: torch.Tensor,
    positives: torch.Tensor,
    valid: torch.Tensor,
    temperature: float = TEMPERATURE,
) -> torch.Tensor:
    """L_inv averaged over the anchors that have at least one positive (PROTOCOL.md §8).

    Args:
        sim: similarities (B, N).
        index: anchors (B,).
        background_values, background_indices: the background set (B, M).
        positives, valid: hard positives and their mask (B, P), from :func:`hard_positives`.
        temperature: τ > 0.

    Returns:
        Scalar tensor >= 0; exactly 0 (still attached to the graph) when no anchor has a positive.

    Raises:
        ValueError: on mismatched shapes or a non-positive temperature.
    """
    _check_index(index, sim)
    temperature = check_positive_float("temperature", temperature)
    if positives.shape != valid.shape or positives.shape[0] != sim.shape[0]:
        raise bad_value("positives.shape", (tuple(positives.shape), tuple(valid.shape)), f"two equal shapes ({sim.shape[0]}, P)")
    has = valid.any(dim=1)
    # Rows without positives get finite dummy logits so that no -inf - (-inf) reaches autograd.
    keep = valid | ~has.unsqueeze(1)
    pos_logits = (sim.gather(1, positives) / temperature).masked_fill(~keep, float("-inf"))
    bg_logits = (background_values / temperature).masked_fill(background_indices == index.long().unsqueeze(1), float("-inf"))
    per_row = torch.logsumexp(bg_logits, dim=1) - torch.logsumexp(pos_logits, dim=1)
    weight = has.to(per_row.dtype)
    return (per_row * weight).sum() / weight.sum().clamp(min=1.0)


class StepLosses(NamedTuple):
    """What one Invariance Propagation step computes for a batch of anchors."""

    instance: torch.Tensor
    """L_ins, scalar."""
    invariance: torch.Tensor | None
    """L_inv, scalar, or None when it was not requested (warm-up)."""
    neighbours: torch.Tensor
    """New kNN-graph rows of the anchors (B, k), to write into the bank after the step."""
    positives: torch.Tensor | None
    """Hard positives (B, P), or None during warm-up."""
    valid: torch.Tensor | None
    """Mask of the hard positives (B, P), or None during warm-up."""


def invprop_losses(
    embeddings: torch.Tensor,
    index: torch.Tensor,
    bank: torch.Tensor,
    graph: torch.Tensor,
    *,
    background_size: int = BACKGROUND_SIZE,
    temperature: float = TEMPERATURE,
    neighbours: int = NEIGHBOURS,
    steps: int = STEPS,
    positives: int = POSITIVES,
    invariance: bool = True,
) -> StepLosses:
    """Both Invariance Propagation losses for one batch, with the graph rows to write back.

    The positives are discovered on the graph as it was before this step (the anchors' own rows
    are refreshed afterwards, by the caller, from the returned ``neighbours``).

    Args:
        embeddings: L2-normalised embeddings v (B, d).
        index: bank row of each anchor (B,), int64.
        bank: bank vectors v̄ (N, d).
        graph: kNN graph (N, k), int64.
        background_size: M (neighbours < M <= N, positives <= M − 1).
        temperature: τ.
        neighbours: k.
        steps: L.
        positives: P.
        invariance: compute L_inv (False during the instance-only warm-up).

    Returns:
        :class:`StepLosses`.

    Raises:
        ValueError: on inconsistent sizes or shapes.
    """
    check_int("background_size", background_size, 2)
    if check_int("neighbours", neighbours, 1) >= background_size:
        raise bad_value("neighbours", neighbours, f"fewer than background_size ({background_size})")
    if check_int("positives", positives, 1) > background_size - 1:
        raise bad_value("positives", positives, f"at most background_size - 1 = {background_size - 1}")
    if graph.ndim != 2 or graph.shape[0] != bank.shape[0]:
        raise bad_value("graph.shape", tuple(graph.shape), f"({bank.shape[0]}, k) like the bank")
    sim = similarities(embeddings, bank)
    _check_index(index, sim)
    bg_values, bg_indices = background(sim, background_size)
    l_ins = instance_loss(sim, index, bg_values, temperature)
    new_rows = nearest_neighbours(sim, index, neighbours)
    if not invariance:
        return StepLosses(l_ins, None, new_rows, None, None)
    discovered = propagate(graph, index, steps)
    pos, valid = hard_positives(sim, index, discovered, positives)
    l_inv = invariance_loss(sim, index, bg_values, bg_indices, pos, valid, temperature)
    return StepLosses(l_ins, l_inv, new_rows, pos, valid)
