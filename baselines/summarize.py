"""Summarise scored training runs as Markdown tables: mean ± standard error over seeds, per method.

    python -m spirograph_baselines.summarize runs/q3/simclr-s0 ... [--out table.md]
    python -m spirograph_baselines.summarize baselines/results/cpu-quick/*.json

Each argument is a run directory (``config.json`` and the harness's ``result.json``, schema 3) or a
result file alone (the run's settings are read from its disclosures); runs are grouped by method
and the method settings that differ from the preset. The first table holds the numbers verdicts
may rest on: mean content MSE for one nuisance draw (M=1) and with feature averaging (M=30), the
headline invariance metrics (whitened conditional variance, probe nuisance share, the sensitivity
ratio: none moved by an invertible affine map of the features), the worst-case curve (ε = 0.05 and
0.25, the largest neighbourhood whose search levels off, and the area up to the suite's last ε), nuisance decodability and the background-mean shift (MSE ratio Δμ=0.4 /
Δμ=0). The second holds the diagnostics (PROTOCOL.md §5): the relative conditional variance, the
shrunk whitened one, the gameable normalised one and the paper's estimator.
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
    changed = [f"{k}={v}" for k, v in record.get("method_config", {}).items() if k in preset and _same(preset[k]) != _same(v)]
    return record["method"] + (f" ({', '.join(changed)})" if changed else "")


def _same(value: object) -> object:
    """A setting as the disclosures flatten it (lists as JSON text), so that both sources compare alike."""
    return value if value is None or isinstance(value, (str, bool, int, float)) else json.dumps(value)


def _record_from_disclosures(result: ScoreResult) -> dict:
    """The parts of a run's ``config.json`` that ``rescore`` discloses in its result (method, preset, settings)."""
    disclosures = result.to_dict()["disclosures"]
    if "method" not in disclosures:
        return {"method": result.name}
    record = {"method": disclosures["method"],
              "method_config": {k.removeprefix("config."): v for k, v in disclosures.items() if k.startswith("config.")}}
    if "training.preset" in disclosures:
        record["preset"] = disclosures["training.preset"]
    return record


def _load(run: Path) -> tuple[dict, ScoreResult]:
    if run.is_file():
        result = ScoreResult.load(run)
        return _record_from_disclosures(result), result
    config_path, result_path = run / CONFIG_FILE, run / RESULT_FILE
    for path in (config_path, result_path):
        if not path.is_file():
            raise bad_value("run", str(run), f"a result file or a scored run directory (missing {path.name})")
    return json.loads(config_path.read_text(encoding="utf-8")), ScoreResult.load(result_path)


def _worst(result: ScoreResult, epsilon: float) -> float:
    for point in result.to_dict()["metrics"]["worst_case"]["curve"]:
        if math.isclose(point["epsilon"], epsilon):
            return float(point["normalized_mse"]["value"])
    raise bad_value("worst_case.curve", epsilon, "an ε on the result's curve")


def run_metrics(run: Path) -> tuple[str, dict[str, float]]:
    """``(label, metrics)`` of one scored run directory or result file (``run_label`` of its configuration)."""
    record, result = _load(Path(run))
    if result.to_dict()["schema_version"] < 3:
        raise bad_value("run", str(run), "a result of schema 3 or later (older ones hold other invariance metrics; rescore it)")
    label = run_label(record) if "preset" in record else record["method"]
    shifted = _curve_value(result, "robustness.background_mean", "level", 0.4)
    unshifted = _curve_value(result, "robustness.background_mean", "level", 0.0)
    return label, {
        "mse_m1": result.metric("linear.mean_mse"),
        "mse_m30": _curve_value(result, "feature_averaging", "M", 30),
        "whitened_cv": result.metric("invariance.whitened_conditional_variance"),
        "probe_share": result.metric("invariance.probe_nuisance_share.mean"),
        "sensitivity": result.metric("sensitivity.nuisance_to_content"),
        "worst_005": _worst(result, 0.05),
        "worst_025": _worst(result, 0.25),
        "worst_area": result.metric("worst_case.area"),
        "nuisance_mse": result.metric("invariance.nuisance_mse"),
        "bg_ratio": shifted / unshifted,
        "relative_cv": result.metric("invariance.diagnostics.relative_conditional_variance"),
        "shrunk_cv": result.metric("invariance.diagnostics.shrunk_whitened_conditional_variance"),
        "normalized_cv": result.metric("invariance.diagnostics.normalized_conditional_variance"),
        "paper_proxy": result.metric("invariance.diagnostics.paper_trace_proxy"),
    }


COLUMNS = [
    ("mse_m1", "MSE, M=1"),
    ("mse_m30", "MSE, M=30"),
    ("whitened_cv", "whitened cond. var."),
    ("probe_share", "probe nuisance share"),
    ("sensitivity", "sensitivity nuisance/content"),
    ("worst_005", "worst case, ε=0.05"),
    ("worst_025", "worst case, ε=0.25"),
    ("worst_area", "worst-case area"),
    ("nuisance_mse", "nuisance MSE"),
    ("bg_ratio", "background Δμ=0.4 / Δμ=0"),
]
DIAGNOSTICS = [
    ("relative_cv", "relative cond. var."),
    ("shrunk_cv", "whitened cond. var., shrunk γ=0.1"),
    ("normalized_cv", "normalised cond. var. (gameable)"),
    ("paper_proxy", "paper's proxy"),
]
"""Numbers no verdict rests on (PROTOCOL.md §5 says what moves each), in a table of their own."""


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error (sample standard deviation / √n; 0 for one value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def table(runs: Sequence[Path]) -> str:
    """The Markdown tables of the given runs (one row per method, mean ± s.e.; then one row per run)."""
    measured = [run_metrics(Path(run)) for run in runs]
    grouped: dict[str, list[dict[str, float]]] = {}
    for label, metrics in measured:
        grouped.setdefault(label, []).append(metrics)
    lines: list[str] = []
    for title, columns in (("", COLUMNS), ("Diagnostics (not invariant to every invertible linear map; no verdict rests on them):", DIAGNOSTICS)):
        if title:
            lines += ["", title, ""]
        lines += ["| method | seeds | " + " | ".join(name for _, name in columns) + " |", "|---|---|" + "---|" * len(columns)]
        for method, rows in sorted(grouped.items()):
            cells = []
            for key, _ in columns:
                mean, se = mean_se([r[key] for r in rows])
                cells.append(f"{mean:.4g} ± {se:.2g}")
            lines.append(f"| {method} | {len(rows)} | " + " | ".join(cells) + " |")
    everything = COLUMNS + DIAGNOSTICS
    lines += ["", "Per run:", "", "| run | method | " + " | ".join(name for _, name in everything) + " |",
              "|---|---|" + "---|" * len(everything)]
    for run, (method, metrics) in zip(runs, measured):
        lines.append(f"| {Path(run).stem} | {method} | " + " | ".join(f"{metrics[k]:.4g}" for k, _ in everything) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spirograph_baselines.summarize", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="scored run directories or result files")
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
