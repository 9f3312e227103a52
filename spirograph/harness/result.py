"""Result files: the ``ScoreResult`` object, its JSON schema (SCHEMA.md) and the validator."""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

from .. import _io
from .._validate import bad_value, one_line, unknown_name
from .consistency import derived_figure_problems
from .suites import ROBUSTNESS_FAMILIES

SCHEMA_VERSION = 3
READABLE_SCHEMA_VERSIONS = (1, 2, 3)
"""Versions that load: 1 (release 0.1; its only invariance number is the gameable normalised one,
stored as ``conditional_variance``; no sensitivity or worst-case tasks) is read for display only."""
_V1_INVARIANCE = ("conditional_variance",)
_V2_INVARIANCE = ("relative_conditional_variance", "whitened_conditional_variance", "normalized_conditional_variance",
                  "paper_trace_proxy")
_V3_INVARIANCE = ("whitened_conditional_variance",)
_V3_INVARIANCE_DIAGNOSTICS = ("relative_conditional_variance", "shrunk_whitened_conditional_variance",
                              "normalized_conditional_variance", "paper_trace_proxy")
"""Schema 3 keeps the headline metrics (unchanged by every invertible affine map of the features) at the
top of their task and the others under the task's ``diagnostics``."""
TASK_NAMES: tuple[str, ...] = (
    "linear", "feature_averaging", "robustness", "invariance", "sensitivity", "worst_case", "label_efficiency", "nonlinear",
)


class ResultError(ValueError):
    """A result file or mapping that does not match the schema."""


# -- validation -----------------------------------------------------------------------------------
MAX_RESULT_BYTES = 4 * 1024 * 1024
"""Largest result file read (a real one is about 40 kB); checked before reading."""
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 10_000
_MAX_PROBLEMS = 5
# Which kind of number each metric is: its bounds apply to the value and both ends of its interval.
_R2, _MSE, _NONNEG, _RELATIVE = "r2", "mse", "nonneg", "relative"
_BOUNDS = {
    _R2: (None, 1.0, "R² <= 1"),
    _MSE: (0.0, None, "an MSE >= 0"),
    _NONNEG: (0.0, None, ">= 0"),
    _RELATIVE: (-1.0, None, "a relative change >= -1"),
}
# Small slack for the rounding of an interval computed apart from its value.
_INTERVAL_SLACK = 1e-9
_TOP_LEVEL = {
    "schema_version": int, "package_version": "nonempty_str", "name": "name", "created": "nonempty_str",
    "command": "str_or_null", "suite": dict, "seeds": dict, "device": "nonempty_str", "environment": dict,
    "render": dict, "space": dict, "encoder": dict, "disclosures": dict, "tasks": list, "probes": dict,
    "timings": dict, "metrics": dict,
}
_PROBE_KEYS = {
    "linear": {"solver", "ridge"},
    "linear_tuned": {"solver", "ridge", "grid", "validation_mse", "n_validation"},
    "feature_averaging": {"solver", "ridge", "n_train", "n_test"},
    "robustness": {"solver", "ridge", "n_train", "n_test"},
    "invariance": {"solver", "ridge", "items", "draws", "whitening_shrinkage", "whitened_rank", "paper_proxy_draws",
                   "share_probe", "conditional_variance_items", "conditional_variance_draws", "rank_tolerance", "shrunk_rank"},
    "sensitivity": {"items", "method", "total_variance_items", "whitened_rank", "rank_tolerance"},
    "worst_case": {"items", "restarts", "steps", "step_size", "probe", "objective", "epsilons", "draws", "neighbourhood"},
    "label_efficiency": {"solver", "ridge", "subset"},
    "nonlinear": {"kind", "neighbours", "candidates", "validation_mse", "n_validation"},
}
"""The probe settings each task records (``probes.<task>``); values are numbers, strings or lists of numbers."""


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, expected: str, got: Any = None) -> None:
        shown = "" if got is None else f", got {_short(got)}"
        self.problems.append(f"{where}: expected {expected}{shown}")

    def keys(self, where: str, data: Any, required: dict[str, Any], optional: dict[str, Any] | None = None) -> bool:
        """Check that ``data`` is an object with the ``required`` keys (of their kinds) and no others but ``optional``."""
        if not isinstance(data, dict):
            self.fail(where, "an object", data)
            return False
        ok = True
        allowed = {**required, **(optional or {})}
        for key, kind in allowed.items():
            if key not in data:
                if key in required:
                    self.fail(f"{where}.{key}", "a value (missing)")
                    ok = False
            elif kind is not None and not _is(data[key], kind):
                self.fail(f"{where}.{key}", _kind_name(kind), data[key])
                ok = False
        unknown = [key for key in data if key not in allowed]
        if unknown:
            self.fail(where, f"only the fields {_listing(allowed)}; unknown: {_listing(unknown)}")
            ok = False
        return ok

    def count(self, where: str, value: Any, minimum: int = 0, *, null: bool = False) -> None:
        if null and value is None:
            return
        if not _is(value, int) or value < minimum:
            self.fail(where, f"an integer >= {minimum}" + (" or null" if null else ""), value)

    def number(self, where: str, value: Any, low: float | None = None, high: float | None = None) -> None:
        if not _finite(value) or (low is not None and value < low) or (high is not None and value > high):
            bounds = " and ".join(b for b in (f">= {low:g}" if low is not None else "", f"<= {high:g}" if high is not None else "") if b)
            self.fail(where, "a finite number" + (f" {bounds}" if bounds else ""), value)

    def text(self, where: str, value: Any, limit: int = MAX_TEXT_CHARS) -> None:
        if not isinstance(value, str) or len(value) > limit:
            self.fail(where, f"a string of at most {limit} characters", value)

    def metric(self, where: str, data: Any, kind: str | None = None) -> None:
        """A ``{"value", "ci"}`` metric: finite, value inside its own interval, within the bounds of ``kind``."""
        if not isinstance(data, dict) or set(data) != {"value", "ci"}:
            self.fail(where, 'a metric {"value": x, "ci": [low, high]} and no other fields', data)
            return
        value, ci = data["value"], data["ci"]
        if not _finite(value):
            self.fail(f"{where}.value", "a finite number", value)
            return
        if not (isinstance(ci, list) and len(ci) == 2 and all(_finite(v) for v in ci) and ci[0] <= ci[1]):
            self.fail(f"{where}.ci", "[low, high], finite, low <= high", ci)
            return
        slack = _INTERVAL_SLACK * max(1.0, abs(ci[0]), abs(ci[1]))
        if not ci[0] - slack <= value <= ci[1] + slack:
            self.fail(f"{where}.value", f"a value inside its own interval {ci}", value)
        if kind is not None:
            low, high, name = _BOUNDS[kind]
            for label, x in (("value", value), ("ci", ci[0]), ("ci", ci[1])):
                if (low is not None and x < low) or (high is not None and x > high):
                    self.fail(f"{where}.{label}", name, value if label == "value" else ci)
                    break

    def regression(self, where: str, data: Any, factors: list[str] | None) -> None:
        if not self.keys(where, data, {"mean_mse": dict, "mean_r2": dict, "per_factor": dict}):
            return
        self.metric(f"{where}.mean_mse", data["mean_mse"], _MSE)
        self.metric(f"{where}.mean_r2", data["mean_r2"], _R2)
        if factors is not None and list(data["per_factor"]) != factors:
            self.fail(f"{where}.per_factor", f"one entry per factor {factors}", list(data["per_factor"]))
        for name, entry in data["per_factor"].items():
            if self.keys(f"{where}.per_factor.{_key(name)}", entry, {"mse": dict, "r2": dict}):
                self.metric(f"{where}.per_factor.{_key(name)}.mse", entry["mse"], _MSE)
                self.metric(f"{where}.per_factor.{_key(name)}.r2", entry["r2"], _R2)

    def curve(self, where: str, data: Any, axis: str, axis_kind: Any, metrics: dict[str, str], extra: dict | None = None) -> list:
        if not isinstance(data, list) or not data:
            self.fail(where, "a non-empty list", data)
            return []
        axes = []
        for i, point in enumerate(data):
            if self.keys(f"{where}[{i}]", point, {axis: axis_kind, **{m: dict for m in metrics}, **(extra or {})}):
                axes.append(point[axis])
                for m, kind in metrics.items():
                    self.metric(f"{where}[{i}].{m}", point[m], kind)
        if axes != sorted(axes) or len(set(axes)) != len(axes):
            self.fail(f"{where}", f"points in strictly increasing {axis}", axes)
        return axes

    def raise_if_any(self) -> None:
        if self.problems:
            more = f" (and {len(self.problems) - _MAX_PROBLEMS} more)" if len(self.problems) > _MAX_PROBLEMS else ""
            raise ResultError(one_line("; ".join(self.problems[:_MAX_PROBLEMS]) + more))


def _is(value: Any, kind: Any) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return _finite(value)
    if kind == "int_or_null":
        return value is None or _is(value, int)
    if kind == "str_or_null":
        return value is None or (isinstance(value, str) and len(value) <= MAX_TEXT_CHARS)
    if kind == "nonempty_str":
        return isinstance(value, str) and bool(value.strip()) and len(value) <= MAX_TEXT_CHARS
    if kind == "name":
        return isinstance(value, str) and bool(value.strip()) and len(value) <= MAX_NAME_CHARS and value.isprintable()
    if kind == "numbers":
        return isinstance(value, list) and all(_finite(v) for v in value)
    if kind == "scalar":
        return _json_scalar(value)
    if kind == "setting":  # a probe setting: a scalar or a list of numbers
        return _json_scalar(value) or (isinstance(value, list) and all(_finite(v) for v in value))
    return isinstance(value, kind)


def _kind_name(kind: Any) -> str:
    names = {int: "an integer", str: "a string", dict: "an object", list: "a list", "number": "a finite number",
             "int_or_null": "an integer or null", "str_or_null": "a string or null",
             "nonempty_str": f"a non-blank string of at most {MAX_TEXT_CHARS} characters",
             "name": f"a non-blank, one-line name of at most {MAX_NAME_CHARS} printable characters",
             "numbers": "a list of finite numbers", "scalar": "a string, number, boolean or null",
             "setting": "a string, number, boolean, null or a list of numbers"}
    return names.get(kind, str(kind))


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _key(key: Any) -> str:
    """A key from the file as shown in a path: as is when plain, else quoted (no line breaks)."""
    text = str(key)
    return text if text.isidentifier() and len(text) <= 40 else _short(text)


def _listing(keys: Any) -> str:
    keys = [_key(k) for k in keys]
    return ", ".join(keys[:12]) + (f", ... ({len(keys)} in all)" if len(keys) > 12 else "")


def _json_scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_TEXT_CHARS
    return value is None or isinstance(value, (bool, int)) or _finite(value)


def _check_suite(c: _Checker, suite: Any) -> None:
    from dataclasses import fields

    from .suites import Suite

    where = "result.suite"
    known = {f.name: None for f in fields(Suite) if f.name != "result_schema"}
    required = {"name": "nonempty_str", "version": int, "seed": int}
    optional = {**{k: v for k, v in known.items() if k not in required and k != "options"}, "robustness": dict, "render": dict,
                "paper_ridge": "number", "ridge_grid": "numbers"}
    if not c.keys(where, suite, required, optional):
        return
    c.count(f"{where}.version", suite["version"], 1)
    c.count(f"{where}.seed", suite["seed"], 0)
    for key, value in suite.items():
        here = f"{where}.{key}"
        if key.startswith("n_"):
            c.count(here, value, 1, null=True)
        elif key in ("worst_case_restarts", "bootstrap_resamples", "batch_size", "resolution", "n_points"):
            c.count(here, value, 1)
        elif key in ("worst_case_steps", "worst_case_draws"):
            c.count(here, value, 0)
        elif key == "worst_case_epsilons":
            if not isinstance(value, list) or not value or any(not _finite(v) or not 0 < v <= 1 for v in value):
                c.fail(here, "a non-empty list of numbers in (0, 1]", value)
        elif key in ("averaging_draws", "knn_neighbours"):
            if not isinstance(value, list) or not value or any(not _is(v, int) or v < 1 for v in value):
                c.fail(here, "a non-empty list of integers >= 1", value)
        elif key in ("label_fractions", "ridge_grid"):
            if not isinstance(value, list) or not value or any(not _finite(v) or v < 0 for v in value):
                c.fail(here, "a non-empty list of finite numbers >= 0", value)
        elif key in ("validation_fraction", "confidence", "worst_case_step_size", "whitening_shrinkage", "paper_ridge", "extent"):
            c.number(here, value, 0.0)
        elif key in ("description", "normalize", "name", "generator"):
            c.text(here, value)
        elif key == "robustness":
            for family, spec in value.items():
                if c.keys(f"{here}.{_key(family)}", spec, {"target": str, "shift": str, "levels": "numbers"}):
                    c.text(f"{here}.{_key(family)}.target", spec["target"], 100)
                    c.text(f"{here}.{_key(family)}.shift", spec["shift"], 100)


def _check_context(c: _Checker, data: dict, tasks: list[str]) -> None:
    """Everything but the metrics: suite, seeds, environment, render, space, encoder, disclosures, probes, timings."""
    _check_suite(c, data["suite"])
    for key, value in data["seeds"].items():
        if key not in ("items", "bootstrap"):
            c.fail("result.seeds", "only the fields items, bootstrap", f"unknown {_key(key)}")
        else:
            c.count(f"result.seeds.{key}", value, 0)
    env = data["environment"]
    if c.keys("result.environment", env, {"torch_version": str, "python_version": str, "platform": str}, {"threads": int, "compiled": bool}):
        if "threads" in env:
            c.count("result.environment.threads", env["threads"], 1)
    render = data["render"]
    generator = data.get("generator", "spirograph")
    if "generator_version" in data:
        c.count("result.generator_version", data["generator_version"], 1)
    if generator == "spirograph":  # as released: Spirograph's four options
        if c.keys("result.render", render, {"resolution": int, "n_points": int, "extent": "number", "normalize": str}):
            c.count("result.render.resolution", render["resolution"], 1)
            c.count("result.render.n_points", render["n_points"], 1)
            c.number("result.render.extent", render["extent"], 0.0)
            if render["normalize"] not in ("row", "image"):
                c.fail("result.render.normalize", "'row' or 'image'", render["normalize"])
    else:  # another generator's options, checked as recorded (never against what is installed)
        if c.keys("result.render", render, {"resolution": int}, {k: "scalar" for k in render if k != "resolution"}):
            c.count("result.render.resolution", render["resolution"], 1)
    space = data["space"]
    if c.keys("result.space", space, {"ranges": dict, "content": list, "nuisance": list}, {"generator": "nonempty_str"}):
        if space.get("generator", "spirograph") != generator:
            c.fail("result.space.generator", f"the result's generator {generator!r}", space.get("generator", "spirograph"))
        for factor, bounds in space["ranges"].items():
            if not (isinstance(bounds, list) and len(bounds) == 2 and all(_finite(b) for b in bounds) and bounds[0] <= bounds[1]):
                c.fail(f"result.space.ranges.{_key(factor)}", "[low, high], finite, low <= high", bounds)
        names = space["content"] + space["nuisance"]
        if any(n not in space["ranges"] for n in names) or len(set(names)) != len(names) or not space["content"]:
            c.fail("result.space", "content (non-empty) and nuisance: distinct factor names of ranges", names)
    encoder = data["encoder"]
    if c.keys("result.encoder", encoder, {"name": "nonempty_str", "feature_dim": int, "parameters": "int_or_null"}, {"class": "nonempty_str"}):
        c.count("result.encoder.feature_dim", encoder["feature_dim"], 1)
        c.count("result.encoder.parameters", encoder["parameters"], 0, null=True)
    for key, value in data["disclosures"].items():
        if not (isinstance(key, str) and key.strip() and len(key) <= 100 and key.isprintable()):
            c.fail("result.disclosures", "keys that are non-blank one-line strings of at most 100 characters", key)
        elif not _json_scalar(value):
            c.fail(f"result.disclosures.{_key(key)}", f"a string (at most {MAX_TEXT_CHARS} characters), number, boolean or null", value)
    probes = data["probes"]
    for task, settings in probes.items():
        if task not in _PROBE_KEYS or (task not in tasks and not (task == "linear_tuned" and "linear" in tasks)):
            c.fail("result.probes", "one object per task that was run", f"unknown {_key(task)}")
            continue
        # A skipped task records only its reason, as in its metrics.
        allowed = {"skipped"} if isinstance(settings, dict) and "skipped" in settings else _PROBE_KEYS[task]
        c.keys(f"result.probes.{task}", settings, {}, dict.fromkeys(allowed, "setting"))
        for key in ("n_train", "n_test", "n_validation", "items", "draws", "restarts", "whitened_rank", "shrunk_rank", "paper_proxy_draws",
                    "total_variance_items", "conditional_variance_items", "conditional_variance_draws", "neighbours"):
            if isinstance(settings, dict) and key in settings:
                c.count(f"result.probes.{task}.{key}", settings[key], 0)
    timings = data["timings"]
    if c.keys("result.timings", timings, {"total_s": "number", "tasks": dict}, {"render_s": "number", "encode_s": "number", "images": int}):
        for key in ("total_s", "render_s", "encode_s"):
            if key in timings:
                c.number(f"result.timings.{key}", timings[key], 0.0)
        if "images" in timings:
            c.count("result.timings.images", timings["images"], 0)
        for task, seconds in timings["tasks"].items():
            if task not in tasks:
                c.fail("result.timings.tasks", "one entry per task that was run", f"unknown {_key(task)}")
            elif not _finite(seconds) or seconds < 0:
                c.fail(f"result.timings.tasks.{task}", "seconds >= 0", seconds)


def validate_result(data: Any) -> None:
    """Check a result mapping against the schema of SCHEMA.md (versions ``READABLE_SCHEMA_VERSIONS``), strictly.

    Every field must be known (no extra fields at any level), every count an integer >= 0 (sizes
    >= 1), every metric finite, inside its own interval and within its bounds (R² <= 1, MSE,
    variances, shares and sensitivities >= 0, relative changes >= -1), the name a non-blank line,
    and every derived figure equal to its recomputation from its parts (``consistency``).

    Raises:
        ResultError: one line listing the first problems found, each as ``path: expected ..., got ...``.
    """
    c = _Checker()
    if not isinstance(data, dict):
        raise ResultError(f"result: expected an object, got {type(data).__name__}")
    if not _is(data.get("schema_version"), int):
        c.fail("result.schema_version", "an integer", data.get("schema_version"))
        c.raise_if_any()
    version = data["schema_version"]
    if version not in READABLE_SCHEMA_VERSIONS:
        raise ResultError(f"result.schema_version: expected one of {list(READABLE_SCHEMA_VERSIONS)} (this package writes "
                          f"{SCHEMA_VERSION}), got {version!r}")
    task_names = TASK_NAMES if version >= 2 else tuple(t for t in TASK_NAMES if t not in ("sensitivity", "worst_case"))
    c.keys("result", data, _TOP_LEVEL, {"generator": "nonempty_str", "generator_version": int})  # absent: Spirograph, version 1
    c.raise_if_any()
    tasks = data["tasks"]
    if not tasks or any(t not in task_names for t in tasks) or len(set(tasks)) != len(tasks):
        c.fail("result.tasks", f"distinct task names from {list(task_names)}", tasks)
        c.raise_if_any()
    _check_context(c, data, tasks)
    space_ok = isinstance(data["space"].get("content"), list) and isinstance(data["space"].get("nuisance"), list)
    content = data["space"]["content"] if space_ok else None
    nuisance = data["space"]["nuisance"] if space_ok else None
    metrics = data["metrics"]
    expected = set(tasks) | ({"linear_tuned"} if "linear" in tasks else set())
    if set(metrics) != expected:
        c.fail("result.metrics", f"exactly the keys {sorted(expected)}", sorted(_key(k) for k in metrics))
        c.raise_if_any()
    where = "result.metrics"
    if "linear" in metrics:
        c.regression(f"{where}.linear", metrics["linear"], content)
    if "linear_tuned" in metrics:
        c.regression(f"{where}.linear_tuned", metrics["linear_tuned"], content)
    if "nonlinear" in metrics:
        c.regression(f"{where}.nonlinear", metrics["nonlinear"], content)
    if "feature_averaging" in metrics:
        fa = metrics["feature_averaging"]
        curve = fa.get("curve") if isinstance(fa, dict) else None
        ms = c.curve(f"{where}.feature_averaging.curve", curve, "M", int, {"mean_mse": _MSE, "mean_r2": _R2})
        if any(m < 1 for m in ms):
            c.fail(f"{where}.feature_averaging.curve", "M >= 1", ms)
        if ms:
            key = f"M{ms[-1]}"
            if c.keys(f"{where}.feature_averaging", fa, {"curve": list, key: dict}):
                c.regression(f"{where}.feature_averaging.{key}", fa[key], content)
    if "robustness" in metrics:
        rob = metrics["robustness"]
        # The families of the result's own suite record (a result is checked against what it records).
        recorded = data["suite"].get("robustness")
        families = list(recorded) if isinstance(recorded, dict) and recorded else list(ROBUSTNESS_FAMILIES)
        if c.keys(f"{where}.robustness", rob, {"unshifted": dict, "summary": dict, **{f: dict for f in families}}):
            c.metric(f"{where}.robustness.unshifted", rob["unshifted"], _MSE)
            c.metric(f"{where}.robustness.summary", rob["summary"], _RELATIVE)
            for family in families:
                if c.keys(f"{where}.robustness.{family}", rob[family], {"curve": list, "summary": dict}):
                    c.curve(f"{where}.robustness.{family}.curve", rob[family]["curve"], "level", "number", {"mean_mse": _MSE})
                    c.metric(f"{where}.robustness.{family}.summary", rob[family]["summary"], _RELATIVE)
    if "invariance" in metrics:
        inv = metrics["invariance"]
        headline = {1: _V1_INVARIANCE, 2: _V2_INVARIANCE}.get(version, _V3_INVARIANCE)
        names = headline + ("nuisance_mse", "nuisance_r2", "nuisance_prior_mse")
        extra = {"probe_nuisance_share": dict} if version >= 2 else {}
        if version >= 3:
            extra["diagnostics"] = dict
        if c.keys(f"{where}.invariance", inv, {**{n: dict for n in names}, "nuisance_per_factor": dict, **extra}):
            for n in names:
                c.metric(f"{where}.invariance.{n}", inv[n], _R2 if n == "nuisance_r2" else _NONNEG)
            c.regression(f"{where}.invariance(nuisance)", {"mean_mse": inv["nuisance_mse"], "mean_r2": inv["nuisance_r2"],
                                                         "per_factor": inv["nuisance_per_factor"]}, nuisance)
            if version >= 2 and c.keys(f"{where}.invariance.probe_nuisance_share", inv["probe_nuisance_share"],
                                       {"mean": dict, "per_factor": dict}):
                share = inv["probe_nuisance_share"]
                c.metric(f"{where}.invariance.probe_nuisance_share.mean", share["mean"], _NONNEG)
                if content is not None and list(share["per_factor"]) != content:
                    c.fail(f"{where}.invariance.probe_nuisance_share.per_factor", f"one entry per factor {content}", list(share["per_factor"]))
                for name, entry in share["per_factor"].items():
                    c.metric(f"{where}.invariance.probe_nuisance_share.per_factor.{_key(name)}", entry, _NONNEG)
            if version >= 3 and c.keys(f"{where}.invariance.diagnostics", inv["diagnostics"],
                                       {n: dict for n in _V3_INVARIANCE_DIAGNOSTICS}):
                for n in _V3_INVARIANCE_DIAGNOSTICS:
                    c.metric(f"{where}.invariance.diagnostics.{n}", inv["diagnostics"][n], _NONNEG)
    if "sensitivity" in metrics and not _skipped(c, f"{where}.sensitivity", metrics["sensitivity"]):
        sens = metrics["sensitivity"]
        factors = (content or []) + (nuisance or [])
        expected_keys = factors + ["nuisance_to_content"]
        blocks = [(f"{where}.sensitivity", sens, expected_keys + (["diagnostics"] if version >= 3 else []))]
        if version >= 3 and isinstance(sens, dict) and "diagnostics" in sens:
            blocks.append((f"{where}.sensitivity.diagnostics", sens["diagnostics"], expected_keys))
        for here, block, keys in blocks:
            if not isinstance(block, dict) or list(block) != keys:
                c.fail(here, f"exactly the keys {keys}", list(block) if isinstance(block, dict) else block)
            else:
                for key in expected_keys:
                    c.metric(f"{here}.{key}", block[key], _NONNEG)
    if "worst_case" in metrics and not _skipped(c, f"{where}.worst_case", metrics["worst_case"]):
        wc = metrics["worst_case"]
        if version >= 3:
            if c.keys(f"{where}.worst_case", wc, {"area": dict, "average_normalized_mse": dict, "curve": list}):
                c.metric(f"{where}.worst_case.area", wc["area"], _MSE)
                c.metric(f"{where}.worst_case.average_normalized_mse", wc["average_normalized_mse"], _MSE)
                epsilons = c.curve(f"{where}.worst_case.curve", wc["curve"], "epsilon", "number", {"normalized_mse": _MSE, "mean_mse": _MSE})
                if any(not 0 < e <= 1 for e in epsilons):
                    c.fail(f"{where}.worst_case.curve", "epsilons in (0, 1]", epsilons)
        else:
            scalars = ("average_mse", "normalized_mse", "average_normalized_mse", "ratio_to_average")
            if c.keys(f"{where}.worst_case", wc, {"mean_mse": dict, "mean_r2": dict, "per_factor": dict, **{n: dict for n in scalars}}):
                c.regression(f"{where}.worst_case", {k: wc[k] for k in ("mean_mse", "mean_r2", "per_factor")}, content)
                for n in scalars:
                    c.metric(f"{where}.worst_case.{n}", wc[n], _NONNEG if n == "ratio_to_average" else _MSE)
    if "label_efficiency" in metrics:
        le = metrics["label_efficiency"]
        if c.keys(f"{where}.label_efficiency", le, {"curve": list}):
            fractions = c.curve(f"{where}.label_efficiency.curve", le["curve"], "fraction", "number",
                                {"mean_mse": _MSE, "mean_r2": _R2}, {"n_train": int})
            if any(not 0 < f <= 1 for f in fractions):
                c.fail(f"{where}.label_efficiency.curve", "fractions in (0, 1]", fractions)
            for i, point in enumerate(le["curve"] if isinstance(le["curve"], list) else []):
                if isinstance(point, dict) and _is(point.get("n_train"), int) and point["n_train"] < 1:
                    c.fail(f"{where}.label_efficiency.curve[{i}].n_train", "an integer >= 1", point["n_train"])
    c.raise_if_any()
    # Only a well-formed file gets here: now every derived figure must agree with its parts.
    c.problems += derived_figure_problems(metrics, content or (), nuisance or ())
    c.raise_if_any()


def _skipped(c: _Checker, where: str, data: Any) -> bool:
    """A task that could not run is stored as ``{"skipped": "<reason>"}``; check that form."""
    if isinstance(data, dict) and "skipped" in data:
        reason = data["skipped"]
        if set(data) != {"skipped"} or not isinstance(reason, str) or not reason.strip() or len(reason) > 1000:
            c.fail(where, '{"skipped": "<non-blank reason of at most 1000 characters>"} and nothing else', data)
        return True
    return False


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {_short(key)}")
        seen[key] = value
    return seen


def read_result_json(path: str | os.PathLike) -> Any:
    """Read a result file's JSON safely: size checked before reading, UTF-8, depth-safe, strict JSON.

    Raises:
        ResultError: too large, not UTF-8, not strict JSON (NaN/Infinity, duplicate keys) or nested
            too deeply; one line naming the file.
        OSError: the file cannot be read.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_RESULT_BYTES:
        raise ResultError(f"{path}: {size:,} bytes, more than a result file may hold ({MAX_RESULT_BYTES:,} bytes)")
    with open(path, "rb") as handle:
        raw = handle.read(MAX_RESULT_BYTES + 1)  # a file that grew (or a device) is cut at the limit, not read whole
    if len(raw) > MAX_RESULT_BYTES:
        raise ResultError(f"{path}: more than {MAX_RESULT_BYTES:,} bytes, more than a result file may hold")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ResultError(f"{path}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_object)
    except RecursionError:
        raise ResultError(f"{path}: not a result file (JSON nested too deeply)") from None
    except ValueError as err:  # JSONDecodeError, NaN/Infinity, duplicate keys, over-long integers
        raise ResultError(one_line(f"{path}: not a JSON file ({err})")) from None


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
            ResultError: too large, not UTF-8, not JSON, or not matching the schema: one line naming the file.
        """
        path = Path(path)
        data = read_result_json(path)
        try:
            return cls(data)
        except ResultError as err:
            raise ResultError(f"{path}: {err}") from None
        except RecursionError:  # pragma: no cover - the strict validator bounds the depth first
            raise ResultError(f"{path}: not a result file (nested too deeply)") from None

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
