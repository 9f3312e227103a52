"""The leaderboard: ranked markdown tables rendered from result files.

Entries are grouped by suite (name and version): scores from different suites are not
comparable. Within a suite the primary metric is the mean content R² of the ``linear`` task; the
paper's mean MSE stands beside it. An entry whose R² interval overlaps that of a better-ranked
entry is marked "not distinguishable" from it (overlapping 95% intervals: a conservative check,
as the entries were scored on the same items but bootstrapped separately).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

from .result import ResultError, ScoreResult, write_text_atomic


def shipped_entries() -> list[Path]:
    """Paths of the reference entries shipped with the package (oracle, pixels, random ConvNet)."""
    folder = resources.files("spirograph.harness") / "entries"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".json"))


def load_results(paths: Iterable[str | os.PathLike]) -> list[ScoreResult]:
    """Load and validate result files.

    Raises:
        ValueError: no paths given, or a file that is not a valid result (the message names it).
        OSError: a file that cannot be read.
    """
    paths = list(paths)
    if not paths:
        raise ValueError("results=[]: expected at least one result JSON file")
    results = []
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"result file {str(path)!r} does not exist")
        results.append(ScoreResult.load(path))
    return results


def _fmt(value: float, kind: str) -> str:
    if kind == "r2":
        return f"{value:.4f}"
    return f"{value:.3g}"


def _cell(result: ScoreResult, path: str, kind: str, with_ci: bool = False) -> str:
    try:
        value = result.metric(path)
    except ValueError:
        return "—"
    if not with_ci:
        return _fmt(value, kind)
    low, high = result.interval(path)
    return f"{_fmt(value, kind)} [{_fmt(low, kind)}, {_fmt(high, kind)}]"


def _has(result: ScoreResult, path: str) -> bool:
    try:
        result.metric(path)
        return True
    except ValueError:
        return False


def rank(results: Sequence[ScoreResult]) -> list[tuple[ScoreResult, int | None]]:
    """Sort one suite's entries by mean content R² (best first) and find indistinguishable ones.

    Returns:
        ``(result, tie)`` pairs in rank order; ``tie`` is the 1-based rank of the best-ranked
        entry whose R² interval overlaps this one's (``None`` if none does, or if the entry has no
        ``linear`` score).
    """
    scored = [r for r in results if _has(r, "linear.mean_r2")]
    unscored = [r for r in results if not _has(r, "linear.mean_r2")]
    scored.sort(key=lambda r: (-r.metric("linear.mean_r2"), r.metric("linear.mean_mse"), r.name))
    out: list[tuple[ScoreResult, int | None]] = []
    for i, result in enumerate(scored):
        low, high = result.interval("linear.mean_r2")
        tie = None
        for j in range(i):
            other_low, other_high = scored[j].interval("linear.mean_r2")
            if low <= other_high and other_low <= high:
                tie = j + 1
                break
        out.append((result, tie))
    return out + [(r, None) for r in sorted(unscored, key=lambda r: r.name)]


def _disclosure(result: ScoreResult, key: str) -> str:
    value = result.to_dict()["disclosures"].get(key)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def render_markdown(results: Sequence[ScoreResult]) -> str:
    """A ranked markdown table per suite.

    Columns: rank, entry, mean R² and the paper's mean MSE on ``linear`` (with 95% intervals),
    mean MSE with feature averaging at the largest M, robustness summary (mean relative MSE
    increase under shift), conditional variance, nuisance-prediction MSE, feature dimension,
    parameters and the disclosures on nuisance labels and test-time passes.
    """
    if not results:
        raise ValueError("results=[]: expected at least one ScoreResult")
    groups: dict[tuple[str, int], list[ScoreResult]] = {}
    for result in results:
        groups.setdefault(result.suite, []).append(result)
    lines = ["# Spirograph leaderboard", ""]
    any_tie = False
    for (suite, version), members in sorted(groups.items()):
        data = members[0].to_dict()["suite"]
        largest_m = max(data.get("averaging_draws", [30]))
        lines += [
            f"## Suite `{suite}` (version {version})",
            "",
            f"{data.get('n_train', '?')} probe-training and {data.get('n_test', '?')} test contents, seed {data.get('seed', '?')}, "
            f"rendering normalize={members[0].to_dict()['render']['normalize']!r}.",
            "",
            "| rank | entry | mean R² (linear) [95% CI] | mean MSE (paper) [95% CI] | "
            f"mean MSE, M={largest_m} | robustness | cond. variance | nuisance MSE | D | parameters | nuisance labels | test passes |",
            "|---:|---|---|---|---|---|---|---|---:|---:|---|---|",
        ]
        for position, (result, tie) in enumerate(rank(members), start=1):
            encoder = result.to_dict()["encoder"]
            shown_rank = "—" if not _has(result, "linear.mean_r2") else (f"{position} (≈ {tie})" if tie else str(position))
            any_tie = any_tie or tie is not None
            params = "—" if encoder["parameters"] is None else f"{encoder['parameters']:,}"
            lines.append(
                "| " + " | ".join([
                    shown_rank,
                    result.name.replace("|", "\\|"),
                    _cell(result, "linear.mean_r2", "r2", True),
                    _cell(result, "linear.mean_mse", "mse", True),
                    _cell(result, f"feature_averaging.M{largest_m}.mean_mse", "mse"),
                    _cell(result, "robustness.summary", "mse"),
                    _cell(result, "invariance.conditional_variance", "mse"),
                    _cell(result, "invariance.nuisance_mse", "mse"),
                    str(encoder["feature_dim"]),
                    params,
                    _disclosure(result, "uses_nuisance_labels"),
                    _disclosure(result, "test_time_passes"),
                ]) + " |"
            )
        lines.append("")
    if any_tie:
        lines += [
            "`n (≈ k)`: not distinguishable from the entry ranked k: their 95% bootstrap intervals of mean R² overlap.",
            "",
        ]
    lines += [
        "Robustness: mean relative increase of the mean MSE over the nuisance shifts of PROTOCOL.md §1 (0 = unaffected). "
        "Conditional variance: variance of L2-normalised features over nuisance re-draws of one content, summed over "
        "dimensions, averaged over items. Nuisance MSE: linear decoding of the nuisance from the features "
        "(about 0.0807 = not decodable).",
        "",
    ]
    return "\n".join(lines)


def write_leaderboard(results: Sequence[ScoreResult], path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Render ``results`` and write the markdown atomically (refuses an existing file without ``overwrite``)."""
    return write_text_atomic(path, render_markdown(results), overwrite=overwrite)


__all__ = ["ResultError", "load_results", "rank", "render_markdown", "shipped_entries", "write_leaderboard"]
