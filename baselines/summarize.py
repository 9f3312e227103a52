"""Summarise scored training runs as a Markdown table: mean ± standard error over seeds, per method.

    python -m spirograph_baselines.summarize runs/quick-simclr-s0 runs/quick-simclr-s1 ... [--out table.md]

Each run directory must hold ``config.json`` and the harness's ``result.json`` (schema 2); runs are
grouped by method and the method settings that differ from the preset. Columns: mean content MSE
for one nuisance draw (M=1) and with feature averaging (M=30), the offset-proof invariance metrics
(relative and whitened conditional variance, probe nuisance share), the sensitivity ratio, the
worst-case MSE and its ratio to the average case, nuisance decodability, the background-mean shift
(MSE ratio Δμ=0.4 / Δμ=0), and for comparison the gameable normalised conditional variance and the
paper's estimator (PROTOCOL.md §5).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Sequence

from spirograph._validate import bad_value
from spirograph.harness.result import ScoreResult

from .checkpoint import CONFIG_FILE, RESULT_FILE


def _curve_value(result: ScoreResult, family: str, key: str, level: float) -> float:
    curve = result.to_dict()["metrics"]
    for part in family.split("."):
        curve = curve[part]
    for point in curve["curve"]:
        if math.isclose(point[key], level):
            return float(point["mean_mse"]["value"])
    raise bad_value(family, level, f"a {key} on the result's curve")


def run_label(record: dict) -> str:
    """The row label of a run: its method, plus every method setting that differs from its preset."""
    from .methods import get_method
    from .presets import get_preset

    method_cls = get_method(record["method"])
    preset = method_cls.Config.from_overrides(get_preset(record["preset"]).method_settings(method_cls)).to_dict()
    changed = [f"{k}={v}" for k, v in record.get("method_config", {}).items() if k in preset and preset[k] != v]
    return record["method"] + (f" ({', '.join(changed)})" if changed else "")


def run_metrics(run_dir: Path) -> tuple[str, dict[str, float]]:
    """``(label, metrics)`` of one scored run directory (``run_label`` of its configuration)."""
    config_path, result_path = run_dir / CONFIG_FILE, run_dir / RESULT_FILE
    for path in (config_path, result_path):
        if not path.is_file():
            raise bad_value("run", str(run_dir), f"a scored run directory (missing {path.name})")
    record = json.loads(config_path.read_text(encoding="utf-8"))
    label = run_label(record) if "preset" in record else record["method"]
    result = ScoreResult.load(result_path)
    shifted = _curve_value(result, "robustness.background_mean", "level", 0.4)
    unshifted = _curve_value(result, "robustness.background_mean", "level", 0.0)
    return label, {
        "mse_m1": result.metric("linear.mean_mse"),
        "mse_m30": _curve_value(result, "feature_averaging", "M", 30),
        "relative_cv": result.metric("invariance.relative_conditional_variance"),
        "whitened_cv": result.metric("invariance.whitened_conditional_variance"),
        "probe_share": result.metric("invariance.probe_nuisance_share.mean"),
        "normalized_cv": result.metric("invariance.normalized_conditional_variance"),
        "paper_proxy": result.metric("invariance.paper_trace_proxy"),
        "sensitivity": result.metric("sensitivity.nuisance_to_content"),
        "worst_mse": result.metric("worst_case.mean_mse"),
        "worst_ratio": result.metric("worst_case.ratio_to_average"),
        "nuisance_mse": result.metric("invariance.nuisance_mse"),
        "bg_ratio": shifted / unshifted,
    }


COLUMNS = [
    ("mse_m1", "MSE, M=1"),
    ("mse_m30", "MSE, M=30"),
    ("relative_cv", "relative cond. var."),
    ("whitened_cv", "whitened cond. var."),
    ("probe_share", "probe nuisance share"),
    ("sensitivity", "sensitivity nuisance/content"),
    ("worst_mse", "worst-case MSE"),
    ("worst_ratio", "worst / average"),
    ("nuisance_mse", "nuisance MSE"),
    ("bg_ratio", "background Δμ=0.4 / Δμ=0"),
    ("normalized_cv", "normalised cond. var. (gameable)"),
    ("paper_proxy", "paper's proxy"),
]


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error (sample standard deviation / √n; 0 for one value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def table(runs: Sequence[Path]) -> str:
    """The Markdown table of the given run directories (one row per method, mean ± s.e.)."""
    grouped: dict[str, list[dict[str, float]]] = {}
    for run in runs:
        label, metrics = run_metrics(Path(run))
        grouped.setdefault(label, []).append(metrics)
    lines = ["| method | seeds | " + " | ".join(title for _, title in COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    for method, rows in sorted(grouped.items()):
        cells = []
        for key, _ in COLUMNS:
            mean, se = mean_se([r[key] for r in rows])
            cells.append(f"{mean:.4g} ± {se:.2g}")
        lines.append(f"| {method} | {len(rows)} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Per run:")
    lines.append("")
    lines.append("| run | method | " + " | ".join(title for _, title in COLUMNS) + " |")
    lines.append("|---|---|" + "---|" * len(COLUMNS))
    for run in runs:
        method, metrics = run_metrics(Path(run))
        lines.append(f"| {Path(run).name} | {method} | " + " | ".join(f"{metrics[k]:.4g}" for k, _ in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spirograph_baselines.summarize", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="scored run directories")
    parser.add_argument("--out", type=Path, help="write the table here instead of printing it")
    args = parser.parse_args(argv)
    try:
        text = table(args.runs)
        if args.out:
            if args.out.exists():
                raise bad_value("--out", str(args.out), "a new file (it exists)")
            args.out.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    except (ValueError, OSError) as err:
        print(f"summarize: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
