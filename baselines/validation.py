"""A validation score for choosing training settings without touching the harness's test items.

Contents come from the streams ``baselines/val-fit`` (probe fitting) and ``baselines/val``
(scoring) of the training data seed, disjoint by construction from the training stream and from
the harness's own splits. The probe is the harness's own linear probe,
:func:`spirograph.harness.probes.fit_ridge`: the paper's objective of PROTOCOL.md §5 (mean squared
error + 1e-8·‖W‖², bias unpenalised), applied to feature-averaged representations (PROTOCOL.md §4),
so a validation choice and a harness score are made with the same probe.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from spirograph import Spirograph
from spirograph._validate import check_int
from spirograph.harness.probes import fit_ridge
from spirograph.harness.suites import PAPER_RIDGE

FIT_STREAM = "baselines/val-fit"
VAL_STREAM = "baselines/val"


@torch.no_grad()
def encode_averaged(
    encoder: Callable[[torch.Tensor], torch.Tensor],
    spirograph: Spirograph,
    content: torch.Tensor,
    *,
    draws: int,
    seed: int,
    stream: str,
    chunk: int = 1024,
) -> torch.Tensor:
    """Representations (n, draws, d) of every content row under ``draws`` seeded nuisance draws."""
    out = []
    for lo in range(0, content.shape[0], chunk):
        images, _ = spirograph.views(content[lo : lo + chunk], k=draws, seed=seed, stream=stream, start=lo)
        k, n = images.shape[:2]
        h = encoder(images.reshape(k * n, *images.shape[2:])).float()
        out.append(h.reshape(k, n, -1).transpose(0, 1).cpu())
    return torch.cat(out)


def validation_scores(
    encoder: Callable[[torch.Tensor], torch.Tensor],
    spirograph: Spirograph,
    *,
    seed: int = 0,
    n_fit: int = 4000,
    n_val: int = 2000,
    draws: Sequence[int] = (1, 10),
) -> dict[str, Any]:
    """Mean content MSE of a ridge probe for each number of averaged draws, and the conditional variance.

    Returns:
        ``{"mse": {"M=1": ..., "M=10": ...}, "conditional_variance": ..., "ridge": ..., "n_fit": ..., "n_val": ...}``;
        ``ridge`` is the probe's λ (the paper's 1e-8, scaled by n·k inside ``fit_ridge``); the conditional variance is the per-item variance of ĥ = h/‖h‖ over the draws, summed over
        dimensions and averaged over validation items.
    """
    n_fit, n_val = check_int("n_fit", n_fit, 2), check_int("n_val", n_val, 2)
    most = max(check_int("draws", m, 1) for m in draws)
    fit_c = spirograph.sample_content(n_fit, seed=seed, stream=FIT_STREAM)
    val_c = spirograph.sample_content(n_val, seed=seed, stream=VAL_STREAM)
    h_fit = encode_averaged(encoder, spirograph, fit_c, draws=most, seed=seed, stream=FIT_STREAM + "/views")
    h_val = encode_averaged(encoder, spirograph, val_c, draws=most, seed=seed, stream=VAL_STREAM + "/views")
    mse = {}
    for m in draws:
        pred = fit_ridge(h_fit[:, :m].mean(1), fit_c.cpu(), PAPER_RIDGE).predict(h_val[:, :m].mean(1))
        mse[f"M={m}"] = float((pred - val_c.cpu().double()).pow(2).mean())
    h_hat = h_val / h_val.norm(dim=2, keepdim=True).clamp_min(1e-12)
    cond_var = float(h_hat.var(dim=1).sum(dim=1).mean()) if most > 1 else float("nan")
    return {"mse": mse, "conditional_variance": cond_var, "ridge": PAPER_RIDGE, "n_fit": n_fit, "n_val": n_val, "seed": seed}
