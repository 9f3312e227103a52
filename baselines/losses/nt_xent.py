"""NT-Xent (normalised temperature-scaled cross-entropy), the InfoNCE loss of SimCLR (PROTOCOL.md §2).

Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations", eq. 1:
2N×2N cosine-similarity logits divided by the temperature, self-similarity masked, the target of
each row is the other view of the same item; the loss is the mean cross-entropy over all 2N rows.
Under torch.distributed the negatives are gathered from every rank with gradient, so the loss of a
sharded batch is the loss of the union batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from spirograph._validate import bad_value, check_positive_float


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward returns each rank the summed gradient of its shard.

    The backward uses all_reduce (supported by gloo and NCCL alike) rather than reduce_scatter.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        world = dist.get_world_size()
        ctx.rank, ctx.world, ctx.rows = dist.get_rank(), world, tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_with_grad(tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Concatenate ``tensor`` (n, ...) from every rank, keeping the gradient path to each shard.

    Returns:
        ``(gathered (world·n, ...), offset)`` where ``offset`` is this rank's first row; without an
        initialised process group (or with one rank) the input itself and offset 0.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor, 0
    return _GatherWithGrad.apply(tensor), dist.get_rank() * tensor.shape[0]


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, *, distributed: bool = True) -> torch.Tensor:
    """NT-Xent loss of two views.

    Args:
        z1, z2: projections of view 1 and view 2, (n, d); row i of both is the same item.
        temperature: τ > 0 (paper: 0.5).
        distributed: gather negatives across ranks when a process group is initialised (every rank
            must hold the same n).

    Returns:
        Scalar tensor: mean cross-entropy over this rank's 2n rows against all 2N candidates
        (N = n·world). DistributedDataParallel's gradient averaging then yields the gradient of the
        union batch's loss.

    Raises:
        ValueError: mismatched shapes, fewer than 2 items, or temperature ≤ 0.
    """
    temperature = check_positive_float("temperature", temperature)
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise bad_value("z1/z2 shapes", (tuple(z1.shape), tuple(z2.shape)), "two tensors of the same shape (n, d)")
    n = z1.shape[0]
    if z1.dtype not in (torch.float32, torch.float64):  # bf16 under autocast: the softmax wants float32
        z1, z2 = z1.float(), z2.float()
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    if distributed:
        all1, offset = gather_with_grad(z1)
        all2, _ = gather_with_grad(z2)
    else:
        all1, all2, offset = z1, z2, 0
    total = all1.shape[0]
    if total < 2:
        raise bad_value("batch size", total, "at least 2 items (one positive and one negative per row)")
    rows = torch.cat([z1, z2])  # (2n, d)
    cols = torch.cat([all1, all2])  # (2N, d)
    logits = rows @ cols.T / temperature
    local = torch.arange(n, device=z1.device) + offset
    self_col = torch.cat([local, local + total])
    positive = torch.cat([local + total, local])
    row = torch.arange(2 * n, device=z1.device)
    logits[row, self_col] = float("-inf")
    return F.cross_entropy(logits, positive)
