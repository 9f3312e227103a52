"""Scores with confidence intervals: a seeded percentile bootstrap over test items.

Every statistic here is a ratio of weighted sums over test items, so a bootstrap resample is a
vector of item counts w (how often each item was drawn) and a statistic is evaluated for a whole
block of resamples with one matrix product W @ per-item values. All metrics of one test set share
the same resamples (common random numbers), which keeps paired comparisons, such as the relative
degradation under a nuisance shift, consistent.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from .._validate import check_int

Metric = dict  # {"value": float, "ci": [low, high]}
_CHUNK = 100  # resamples per block: bounds memory at 100 × n float64
_CACHE_LIMIT = 50_000_000  # cache resample counts for test sets up to this many entries (400 MB float64 worst case)


def metric(value: float, low: float, high: float) -> Metric:
    """One metric as stored in result files: ``{"value": x, "ci": [lo, hi]}``."""
    return {"value": float(value), "ci": [float(low), float(high)]}


class Bootstrap:
    """Percentile bootstrap over test items with seeded, reusable resamples.

    Args:
        resamples: number of bootstrap resamples (>= 100).
        confidence: two-sided level of the percentile interval, e.g. 0.95.
        seed: seed of the resampling; the resamples for ``n`` items depend only on (seed, n).
    """

    def __init__(self, resamples: int, confidence: float, seed: int) -> None:
        self.resamples = check_int("resamples", resamples, 100)
        self.confidence = float(confidence)
        self.seed = check_int("seed", seed, 0)
        self._cache: dict[int, list[np.ndarray]] = {}

    def _blocks(self, n: int) -> list[np.ndarray] | None:
        if n in self._cache:
            return self._cache[n]
        blocks = [self._block(n, i) for i in range(0, self.resamples, _CHUNK)]
        if self.resamples * n <= _CACHE_LIMIT:
            self._cache[n] = blocks
        return blocks

    def _block(self, n: int, first: int) -> np.ndarray:
        count = min(_CHUNK, self.resamples - first)
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, n, first])))
        index = rng.integers(0, n, size=(count, n))
        # Counts of each item per resample: bincount over row-offset indices.
        offsets = index + (np.arange(count)[:, None] * n)
        return np.bincount(offsets.ravel(), minlength=count * n).reshape(count, n).astype(np.float64)

    def evaluate(self, statistic: Callable[[np.ndarray], np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
        """Point values and percentile intervals of a vector of statistics.

        Args:
            statistic: maps item weights W (c, n) to statistics (c, m); all-ones weights give the
                point estimate.
            n: number of test items.

        Returns:
            ``(values (m,), intervals (m, 2))``.
        """
        values = np.asarray(statistic(np.ones((1, n))), dtype=np.float64)[0]
        draws = np.concatenate([np.asarray(statistic(block), dtype=np.float64) for block in self._blocks(n)])
        tail = (1.0 - self.confidence) / 2.0
        low, high = np.quantile(draws, [tail, 1.0 - tail], axis=0)
        # A percentile interval can miss a point value on a skewed statistic; widen it to include it.
        return values, np.stack([np.minimum(low, values), np.maximum(high, values)], axis=1)


def _numpy(tensor: torch.Tensor | np.ndarray) -> np.ndarray:
    return tensor.detach().double().cpu().numpy() if isinstance(tensor, torch.Tensor) else np.asarray(tensor, dtype=np.float64)


def regression(predicted: torch.Tensor, targets: torch.Tensor, names: Sequence[str], boot: Bootstrap) -> dict:
    """Per-target MSE and R², their means over targets (the paper's metric is ``mean_mse``).

    R² of target f is ``1 − SSE_f / SST_f`` with SST_f around the test mean (of the resample).

    Args:
        predicted, targets: (n, k).
        names: the k target names.

    Returns:
        ``{"mean_mse", "mean_r2", "per_factor": {name: {"mse", "r2"}}}``, each a metric dict.
    """
    p, y = _numpy(predicted), _numpy(targets)
    n, k = y.shape
    columns = np.concatenate([(p - y) ** 2, y, y**2], axis=1)  # (n, 3k)

    def statistic(weights: np.ndarray) -> np.ndarray:
        total = weights.sum(axis=1, keepdims=True)
        sums = weights @ columns
        sse, s1, s2 = sums[:, :k], sums[:, k : 2 * k], sums[:, 2 * k :]
        sst = np.maximum(s2 - s1**2 / total, 1e-300)
        mse = sse / total
        r2 = 1.0 - sse / sst
        return np.concatenate([mse, r2, mse.mean(axis=1, keepdims=True), r2.mean(axis=1, keepdims=True)], axis=1)

    values, ci = boot.evaluate(statistic, n)
    out = {
        "mean_mse": metric(values[2 * k], *ci[2 * k]),
        "mean_r2": metric(values[2 * k + 1], *ci[2 * k + 1]),
        "per_factor": {},
    }
    for i, name in enumerate(names):
        out["per_factor"][name] = {"mse": metric(values[i], *ci[i]), "r2": metric(values[k + i], *ci[k + i])}
    return out


def item_mean(values: torch.Tensor | np.ndarray, boot: Bootstrap) -> Metric:
    """Mean of per-item values (n,) with its bootstrap interval."""
    v = _numpy(values).reshape(-1, 1)

    def statistic(weights: np.ndarray) -> np.ndarray:
        return (weights @ v) / weights.sum(axis=1, keepdims=True)

    value, ci = boot.evaluate(statistic, v.shape[0])
    return metric(value[0], *ci[0])


def shift_curves(errors: dict[str, list[np.ndarray]], reference: np.ndarray, boot: Bootstrap) -> dict:
    """Mean MSE per shift level and mean relative degradation against the unshifted reference.

    All levels score the same test items (paired), so one resample weights every level alike.

    Args:
        errors: family -> per-item mean squared errors (each (n,), mean over targets), one array
            per shifted level (the unshifted level 0 excluded).
        reference: per-item mean squared errors (n,) on the unshifted space.

    Returns:
        ``{"reference": metric, family: {"mse": [metric per level], "summary": metric},
        "summary": metric}`` where a family's summary is the mean over its shifted levels of
        (MSE_level − MSE_0) / MSE_0, and the overall summary is the mean over families.
    """
    families = list(errors)
    stacked = np.stack([reference] + [e for f in families for e in errors[f]], axis=1)  # (n, 1 + L)

    def statistic(weights: np.ndarray) -> np.ndarray:
        mse = (weights @ stacked) / weights.sum(axis=1, keepdims=True)
        base = np.maximum(mse[:, :1], 1e-300)
        out, summaries, col = [mse], [], 1
        for family in families:
            count = len(errors[family])
            summaries.append(((mse[:, col : col + count] - base) / base).mean(axis=1))
            col += count
        summaries = np.stack(summaries, axis=1)
        return np.concatenate(out + [summaries, summaries.mean(axis=1, keepdims=True)], axis=1)

    values, ci = boot.evaluate(statistic, stacked.shape[0])
    result: dict = {"reference": metric(values[0], *ci[0])}
    col = 1
    for family in families:
        count = len(errors[family])
        result[family] = {"mse": [metric(values[col + i], *ci[col + i]) for i in range(count)]}
        col += count
    for i, family in enumerate(families):
        result[family]["summary"] = metric(values[col + i], *ci[col + i])
    result["summary"] = metric(values[-1], *ci[-1])
    return result
