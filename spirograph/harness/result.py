"""Result files: the ``ScoreResult`` object, its JSON schema (SCHEMA.md) and the validator."""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

from .. import _io
from .._validate import bad_value, unknown_name
from .suites import ROBUSTNESS_FAMILIES

SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, 2)
"""Versions that load: 1 (release 0.1; its only invariance number is the gameable normalised one,
stored as ``conditional_variance``; no sensitivity or worst-case tasks) is read for display only."""
_V1_INVARIANCE = ("conditional_variance",)
_V2_INVARIANCE = ("relative_conditional_variance", "whitened_conditional_variance", "normalized_conditional_variance",
                  "paper_trace_proxy")
TASK_NAMES: tuple[str, ...] = (
    "linear", "feature_averaging", "robustness", "invariance", "sensitivity", "worst_case", "label_efficiency", "nonlinear",
)


class ResultError(ValueError):
    """A result file or mapping that does not match the schema."""


# -- validation -----------------------------------------------------------------------------------
class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, expected: str, got: Any = None) -> None:
        shown = "" if got is None else f", got {_short(got)}"
        self.problems.append(f"{where}: expected {expected}{shown}")

    def keys(self, where: str, data: Any, required: dict[str, Any]) -> bool:
        if not isinstance(data, dict):
            self.fail(where, "an object", data)
            return False
        ok = True
        for key, kind in required.items():
            if key not in data:
                self.fail(f"{where}.{key}", "a value (missing)")
                ok = False
            elif kind is not None and not _is(data[key], kind):
                self.fail(f"{where}.{key}", _kind_name(kind), data[key])
                ok = False
        return ok

    def metric(self, where: str, data: Any) -> None:
        if not isinstance(data, dict) or set(data) != {"value", "ci"}:
            self.fail(where, 'a metric {"value": x, "ci": [low, high]}', data)
            return
        if not _finite(data["value"]):
            self.fail(f"{where}.value", "a finite number", data["value"])
        ci = data["ci"]
        if not (isinstance(ci, list) and len(ci) == 2 and all(_finite(v) for v in ci) and ci[0] <= ci[1]):
            self.fail(f"{where}.ci", "[low, high], finite, low <= high", ci)

    def regression(self, where: str, data: Any, factors: list[str] | None) -> None:
        if not self.keys(where, data, {"mean_mse": dict, "mean_r2": dict, "per_factor": dict}):
            return
        self.metric(f"{where}.mean_mse", data["mean_mse"])
        self.metric(f"{where}.mean_r2", data["mean_r2"])
        if factors is not None and list(data["per_factor"]) != factors:
            self.fail(f"{where}.per_factor", f"one entry per factor {factors}", list(data["per_factor"]))
        for name, entry in data["per_factor"].items():
            if self.keys(f"{where}.per_factor.{name}", entry, {"mse": dict, "r2": dict}):
                self.metric(f"{where}.per_factor.{name}.mse", entry["mse"])
                self.metric(f"{where}.per_factor.{name}.r2", entry["r2"])

    def curve(self, where: str, data: Any, axis: str, axis_kind: Any, metrics: tuple[str, ...], extra: dict | None = None) -> list:
        if not isinstance(data, list) or not data:
            self.fail(where, "a non-empty list", data)
            return []
        axes = []
        for i, point in enumerate(data):
            if self.keys(f"{where}[{i}]", point, {axis: axis_kind, **{m: dict for m in metrics}, **(extra or {})}):
                axes.append(point[axis])
                for m in metrics:
                    self.metric(f"{where}[{i}].{m}", point[m])
        if axes != sorted(axes) or len(set(axes)) != len(axes):
            self.fail(f"{where}", f"points in strictly increasing {axis}", axes)
        return axes


def _is(value: Any, kind: Any) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return _finite(value)
    if kind == "int_or_null":
        return value is None or _is(value, int)
    if kind == "str_or_null":
        return value is None or isinstance(value, str)
    if kind == "nonempty_str":
        return isinstance(value, str) and bool(value)
    return isinstance(value, kind)


def _kind_name(kind: Any) -> str:
    names = {int: "an integer", str: "a string", dict: "an object", list: "a list", "number": "a finite number",
             "int_or_null": "an integer or null", "str_or_null": "a string or null", "nonempty_str": "a non-empty string"}
    return names.get(kind, str(kind))


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int)) or _finite(value)


def validate_result(data: Any) -> None:
    """Check a result mapping against the schema of SCHEMA.md (version ``SCHEMA_VERSION``).

    Raises:
        ResultError: listing the first problems found, each as ``path: expected ..., got ...``.
    """
    c = _Checker()
    if not c.keys("result", data, {"schema_version": int}):
        raise ResultError("; ".join(c.problems))
    version = data["schema_version"]
    if version not in READABLE_SCHEMA_VERSIONS:
        raise ResultError(f"result.schema_version: expected one of {list(READABLE_SCHEMA_VERSIONS)} (this package writes "
                          f"{SCHEMA_VERSION}), got {version!r}")
    task_names = TASK_NAMES if version == 2 else tuple(t for t in TASK_NAMES if t not in ("sensitivity", "worst_case"))
    c.keys("result", data, {
        "package_version": "nonempty_str", "name": "nonempty_str", "created": "nonempty_str", "command": "str_or_null",
        "suite": dict, "seeds": dict, "device": "nonempty_str", "environment": dict, "render": dict, "space": dict,
        "encoder": dict, "disclosures": dict, "tasks": list, "probes": dict, "timings": dict, "metrics": dict,
    })
    if c.problems:
        raise ResultError("; ".join(c.problems[:5]))
    c.keys("result.suite", data["suite"], {"name": "nonempty_str", "version": int, "seed": int})
    for key, value in data["seeds"].items():
        if not _is(value, int):
            c.fail(f"result.seeds.{key}", "an integer", value)
    c.keys("result.environment", data["environment"], {"torch_version": str, "python_version": str, "platform": str})
    c.keys("result.render", data["render"], {"resolution": int, "n_points": int, "extent": "number", "normalize": str})
    space_ok = c.keys("result.space", data["space"], {"ranges": dict, "content": list, "nuisance": list})
    if c.keys("result.encoder", data["encoder"], {"name": "nonempty_str", "feature_dim": int, "parameters": "int_or_null"}):
        if data["encoder"]["feature_dim"] < 1:
            c.fail("result.encoder.feature_dim", "an integer >= 1", data["encoder"]["feature_dim"])
    for key, value in data["disclosures"].items():
        if not _json_scalar(value):
            c.fail(f"result.disclosures.{key}", "a string, number, boolean or null", value)
    tasks = data["tasks"]
    if not tasks or any(t not in task_names for t in tasks) or len(set(tasks)) != len(tasks):
        c.fail("result.tasks", f"distinct task names from {list(task_names)}", tasks)
        raise ResultError("; ".join(c.problems[:5]))
    if c.keys("result.timings", data["timings"], {"total_s": "number", "tasks": dict}):
        for task, seconds in data["timings"]["tasks"].items():
            if not _finite(seconds) or seconds < 0:
                c.fail(f"result.timings.tasks.{task}", "seconds >= 0", seconds)
    content = data["space"]["content"] if space_ok else None
    nuisance = data["space"]["nuisance"] if space_ok else None
    metrics = data["metrics"]
    expected = set(tasks) | ({"linear_tuned"} if "linear" in tasks else set())
    if set(metrics) != expected:
        c.fail("result.metrics", f"exactly the keys {sorted(expected)}", sorted(metrics))
    where = "result.metrics"
    if "linear" in metrics:
        c.regression(f"{where}.linear", metrics["linear"], content)
    if "linear_tuned" in metrics:
        c.regression(f"{where}.linear_tuned", metrics["linear_tuned"], content)
    if "nonlinear" in metrics:
        c.regression(f"{where}.nonlinear", metrics["nonlinear"], content)
    if "feature_averaging" in metrics:
        fa = metrics["feature_averaging"]
        if c.keys(f"{where}.feature_averaging", fa, {"curve": list}):
            ms = c.curve(f"{where}.feature_averaging.curve", fa["curve"], "M", int, ("mean_mse", "mean_r2"))
            if ms:
                key = f"M{ms[-1]}"
                if c.keys(f"{where}.feature_averaging", fa, {key: dict}):
                    c.regression(f"{where}.feature_averaging.{key}", fa[key], content)
    if "robustness" in metrics:
        rob = metrics["robustness"]
        if c.keys(f"{where}.robustness", rob, {"unshifted": dict, "summary": dict, **{f: dict for f in ROBUSTNESS_FAMILIES}}):
            c.metric(f"{where}.robustness.unshifted", rob["unshifted"])
            c.metric(f"{where}.robustness.summary", rob["summary"])
            for family in ROBUSTNESS_FAMILIES:
                if c.keys(f"{where}.robustness.{family}", rob[family], {"curve": list, "summary": dict}):
                    c.curve(f"{where}.robustness.{family}.curve", rob[family]["curve"], "level", "number", ("mean_mse",))
                    c.metric(f"{where}.robustness.{family}.summary", rob[family]["summary"])
    if "invariance" in metrics:
        inv = metrics["invariance"]
        names = (_V2_INVARIANCE if version == 2 else _V1_INVARIANCE) + ("nuisance_mse", "nuisance_r2", "nuisance_prior_mse")
        extra = {"probe_nuisance_share": dict} if version == 2 else {}
        if c.keys(f"{where}.invariance", inv, {**{n: dict for n in names}, "nuisance_per_factor": dict, **extra}):
            for n in names:
                c.metric(f"{where}.invariance.{n}", inv[n])
            c.regression(f"{where}.invariance(nuisance)", {"mean_mse": inv["nuisance_mse"], "mean_r2": inv["nuisance_r2"],
                                                         "per_factor": inv["nuisance_per_factor"]}, nuisance)
            if version == 2 and c.keys(f"{where}.invariance.probe_nuisance_share", inv["probe_nuisance_share"],
                                       {"mean": dict, "per_factor": dict}):
                share = inv["probe_nuisance_share"]
                c.metric(f"{where}.invariance.probe_nuisance_share.mean", share["mean"])
                if content is not None and list(share["per_factor"]) != content:
                    c.fail(f"{where}.invariance.probe_nuisance_share.per_factor", f"one entry per factor {content}", list(share["per_factor"]))
                for name, entry in share["per_factor"].items():
                    c.metric(f"{where}.invariance.probe_nuisance_share.per_factor.{name}", entry)
    if "sensitivity" in metrics and not _skipped(c, f"{where}.sensitivity", metrics["sensitivity"]):
        sens = metrics["sensitivity"]
        factors = (content or []) + (nuisance or [])
        expected_keys = factors + ["nuisance_to_content"]
        if isinstance(sens, dict) and list(sens) != expected_keys:
            c.fail(f"{where}.sensitivity", f"exactly the keys {expected_keys}", list(sens) if isinstance(sens, dict) else sens)
        elif isinstance(sens, dict):
            for key in expected_keys:
                c.metric(f"{where}.sensitivity.{key}", sens[key])
    if "worst_case" in metrics and not _skipped(c, f"{where}.worst_case", metrics["worst_case"]):
        wc = metrics["worst_case"]
        scalars = ("average_mse", "normalized_mse", "average_normalized_mse", "ratio_to_average")
        if c.keys(f"{where}.worst_case", wc, {**{n: dict for n in scalars}}):
            c.regression(f"{where}.worst_case", {k: wc.get(k) for k in ("mean_mse", "mean_r2", "per_factor")}, content)
            for n in scalars:
                c.metric(f"{where}.worst_case.{n}", wc[n])
    if "label_efficiency" in metrics:
        le = metrics["label_efficiency"]
        if c.keys(f"{where}.label_efficiency", le, {"curve": list}):
            c.curve(f"{where}.label_efficiency.curve", le["curve"], "fraction", "number", ("mean_mse", "mean_r2"), {"n_train": int})
    if c.problems:
        more = f" (and {len(c.problems) - 5} more)" if len(c.problems) > 5 else ""
        raise ResultError("; ".join(c.problems[:5]) + more)


def _skipped(c: _Checker, where: str, data: Any) -> bool:
    """A task that could not run is stored as ``{"skipped": "<reason>"}``; check that form."""
    if isinstance(data, dict) and "skipped" in data:
        if set(data) != {"skipped"} or not isinstance(data["skipped"], str) or not data["skipped"].strip():
            c.fail(where, '{"skipped": "<non-empty reason>"} and nothing else', data)
        return True
    return False


# -- the result object ----------------------------------------------------------------------------
def _leaves(node: Any, prefix: str) -> Iterator[str]:
    if isinstance(node, dict) and set(node) == {"value", "ci"}:
        yield prefix
    elif isinstance(node, dict):
        for key, child in node.items():
            yield from _leaves(child, f"{prefix}.{key}" if prefix else key)
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _leaves(child, f"{prefix}.{i}")


class ScoreResult:
    """One scored entry: everything in its result JSON, with accessors for metrics.

    Args:
        data: a mapping in the result schema (SCHEMA.md); validated unless ``validate`` is false.

    Raises:
        ResultError: ``data`` does not match the schema.
    """

    def __init__(self, data: dict, *, validate: bool = True) -> None:
        if validate:
            validate_result(data)
        self._data = copy.deepcopy(data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ScoreResult":
        """Read and validate a result JSON file.

        Raises:
            OSError: the file cannot be read.
            ResultError: it is not JSON or does not match the schema (the message names the file).
        """
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ResultError(f"{path}: not a JSON file ({err})") from None
        try:
            return cls(data)
        except ResultError as err:
            raise ResultError(f"{path}: {err}") from None

    @property
    def name(self) -> str:
        return self._data["name"]

    @property
    def suite(self) -> tuple[str, int]:
        """``(suite name, suite version)``."""
        return self._data["suite"]["name"], self._data["suite"]["version"]

    def to_dict(self) -> dict:
        """A deep copy of the result mapping (the JSON content)."""
        return copy.deepcopy(self._data)

    def metric_paths(self) -> list[str]:
        """Every metric path accepted by ``metric``, e.g. ``linear.mean_r2``, ``feature_averaging.curve.0.mean_mse``."""
        return list(_leaves(self._data["metrics"], ""))

    def _lookup(self, path: str) -> dict:
        if not isinstance(path, str):
            raise bad_value("path", path, "a dotted metric path such as 'linear.mean_r2'")
        key = path[len("metrics."):] if path.startswith("metrics.") else path
        node: Any = self._data["metrics"]
        for part in key.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise unknown_name("metric", path, self.metric_paths())
        if not (isinstance(node, dict) and set(node) == {"value", "ci"}):
            raise unknown_name("metric", path, self.metric_paths())
        return node

    def metric(self, path: str) -> float:
        """The value of the metric at ``path`` (dotted, relative to ``metrics``; list items by index)."""
        return float(self._lookup(path)["value"])

    def interval(self, path: str) -> tuple[float, float]:
        """The bootstrap confidence interval ``(low, high)`` of the metric at ``path``."""
        low, high = self._lookup(path)["ci"]
        return float(low), float(high)

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the result as JSON, atomically; an existing file is replaced only with ``overwrite``.

        Raises:
            FileExistsError: ``path`` exists and ``overwrite`` is false.
            OSError: the directory does not exist or is not writable.
        """
        return write_text_atomic(path, json.dumps(self._data, indent=2, allow_nan=False) + "\n", overwrite=overwrite)

    def __repr__(self) -> str:
        parts = [f"name={self.name!r}", f"suite={self.suite[0]!r}"]
        if "linear" in self._data["metrics"]:
            parts += [f"linear.mean_r2={self.metric('linear.mean_r2'):.4f}", f"linear.mean_mse={self.metric('linear.mean_mse'):.3g}"]
        return f"ScoreResult({', '.join(parts)})"


def check_output_path(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse a bad output path early (``spirograph._io.check_output_path``, kept here for callers)."""
    return _io.check_output_path(path, overwrite=overwrite)


write_text_atomic = _io.write_atomic  # the one atomic writer, under the name this module always had
