"""A memory bank of L2-normalised embeddings with a kNN graph, kept identical on every DDP rank.

Invariance Propagation (PROTOCOL.md §8) keeps one d-dimensional vector per training item,

    v̄_i ← normalise(momentum·v̄_i + (1 − momentum)·v_i)        (momentum 0.5 in the paper),

plus the item's k nearest bank entries (a row of the kNN graph), refreshed whenever the item is
visited. Under DistributedDataParallel each rank sees a different slice of the batch; before every
update the ranks exchange their (index, embedding, graph row) triples with ``all_gather`` so all
ranks apply the same update and hold byte-identical banks. Where one item appears more than once
in an update (a padded DistributedSampler repeats items), the last occurrence in rank order wins,
so the result does not depend on scatter order.

Memory on the training device: the bank itself is N·d·4 bytes (float32) and the graph N·k·8 bytes
(int64): 100,000 items × 128 dims is 51.2 MB plus 3.2 MB. Each step adds a working set of
B·N·4 bytes for the similarity matrix (B = 128, N = 100,000: 51.2 MB, twice that with its
gradient), B·M·12 bytes for the background values and indices (M = 4096: 6.3 MB) and
B·(k + k² + … + k^L)·8 bytes for the propagated rows (k = 4, L = 3: 86 KB). Under DDP every rank
holds a full copy.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from spirograph._validate import bad_value, check_int


class MemoryBank(nn.Module):
    """N L2-normalised vectors of d dims and a kNN graph (N, k), stored as buffers.

    The bank starts from seeded random unit vectors; every graph row starts as "unknown"
    (the item points to itself), which propagation treats as no neighbour.

    Args:
        size: N, the number of training items (>= 2).
        dim: d, embedding width (>= 1).
        neighbours: k, kNN-graph row width (>= 1).
        momentum: weight of the old vector in an update, in [0, 1).
        seed: seed of the random initial vectors (the same on every rank).
        device: where the buffers live.

    Raises:
        ValueError: on out-of-range arguments.
    """

    def __init__(self, size: int, dim: int = 128, *, neighbours: int = 4, momentum: float = 0.5, seed: int = 0, device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.size = check_int("size", size, 2)
        self.dim = check_int("dim", dim, 1)
        self.neighbours = check_int("neighbours", neighbours, 1)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 <= float(momentum) < 1.0:
            raise bad_value("momentum", momentum, "a number in [0, 1)")
        self.momentum = float(momentum)
        generator = torch.Generator().manual_seed(check_int("seed", seed, 0))
        vectors = F.normalize(torch.randn(self.size, self.dim, generator=generator), dim=1)
        self.register_buffer("vectors", vectors.to(device))
        graph = torch.arange(self.size, dtype=torch.long).unsqueeze(1).repeat(1, self.neighbours)
        self.register_buffer("graph", graph.to(device))

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}, neighbours={self.neighbours}, momentum={self.momentum:g}"

    @property
    def nbytes(self) -> int:
        """Bytes held by the bank and the graph: N·d·4 + N·k·8 in the default dtypes."""
        return self.vectors.numel() * self.vectors.element_size() + self.graph.numel() * self.graph.element_size()

    @torch.no_grad()
    def update(self, index: torch.Tensor, embeddings: torch.Tensor, graph_rows: torch.Tensor | None = None, *, gather: bool = True) -> None:
        """Momentum-update the vectors (and optionally the graph rows) of the given items.

        Under an initialised process group (and ``gather=True``) the triples of all ranks are
        gathered first, so every rank applies the same update.

        Args:
            index: bank rows (B,), int64, in [0, N).
            embeddings: new embeddings (B, d); they are L2-normalised here.
            graph_rows: new kNN-graph rows (B, k), or None to leave the graph as it is.
            gather: exchange with the other ranks when a process group is initialised.

        Raises:
            ValueError: on mismatched shapes or indices out of range.
        """
        self._check(index, embeddings, graph_rows)
        index = index.to(self.vectors.device, torch.long)
        embeddings = embeddings.detach().to(self.vectors.device, self.vectors.dtype)
        if graph_rows is not None:
            graph_rows = graph_rows.to(self.graph.device, torch.long)
        if gather and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            index, embeddings, graph_rows = all_gather_rows(index, embeddings, graph_rows)
        keep = last_occurrence(index)
        index, embeddings = index[keep], embeddings[keep]
        mixed = self.momentum * self.vectors[index] + (1.0 - self.momentum) * F.normalize(embeddings, dim=1)
        self.vectors[index] = F.normalize(mixed, dim=1)
        if graph_rows is not None:
            self.graph[index] = graph_rows[keep]

    def _check(self, index: torch.Tensor, embeddings: torch.Tensor, graph_rows: torch.Tensor | None) -> None:
        if not isinstance(index, torch.Tensor) or index.ndim != 1 or index.dtype not in (torch.int64, torch.int32):
            raise bad_value("index", getattr(index, "shape", index), "a 1-D integer tensor of bank rows")
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= self.size):
            raise bad_value("index", (int(index.min()), int(index.max())), f"rows in [0, {self.size})")
        if not isinstance(embeddings, torch.Tensor) or embeddings.shape != (index.shape[0], self.dim):
            raise bad_value("embeddings.shape", tuple(getattr(embeddings, "shape", ())), f"({index.shape[0]}, {self.dim})")
        if graph_rows is not None and (graph_rows.shape != (index.shape[0], self.neighbours) or graph_rows.is_floating_point()):
            raise bad_value("graph_rows.shape", tuple(graph_rows.shape), f"an integer tensor ({index.shape[0]}, {self.neighbours})")


def last_occurrence(index: torch.Tensor) -> torch.Tensor:
    """Positions (U,) of the last occurrence of each distinct value of ``index`` (B,), by value."""
    unique, inverse = torch.unique(index, return_inverse=True)
    position = torch.arange(index.shape[0], device=index.device)
    last = torch.full((unique.shape[0],), -1, dtype=torch.long, device=index.device)
    return last.scatter_reduce(0, inverse, position, reduce="amax")


def all_gather_rows(*tensors: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
    """Concatenate row-aligned tensors (B, ...) of all ranks in rank order; None stays None.

    Ranks may hold different B: rows are padded to the largest B for ``all_gather`` and trimmed
    after. Without an initialised process group the inputs come back unchanged.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensors
    first = next(t for t in tensors if t is not None)
    world = dist.get_world_size()
    count = torch.tensor([first.shape[0]], device=first.device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    sizes = [int(c.item()) for c in counts]
    largest = max(sizes)

    def gather(tensor: torch.Tensor) -> torch.Tensor:
        padded = torch.zeros((largest,) + tuple(tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
        padded[: tensor.shape[0]] = tensor
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded)
        return torch.cat([part[:n] for part, n in zip(parts, sizes)])

    return tuple(gather(t) if t is not None else None for t in tensors)
