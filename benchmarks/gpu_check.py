"""One command for a CUDA machine: the gpu tests, renderer and training throughput, the epoch-10 comparison.

    python benchmarks/gpu_check.py --out gpu-check                # one CUDA device, at most --budget-s seconds
    python benchmarks/gpu_check.py --out /tmp/gpu-dry --dry-run   # tiny sizes on the CPU: every code path

Stages, cheapest figures first (``--stages`` picks some):

1. ``environment``: GPU model, torch/CUDA/cuDNN/NCCL versions, date, package version, git commit.
2. ``gpu_tests``: ``pytest -m gpu`` in a subprocess; pass/fail counts and the failures.
3. ``render``: renderer images/s at batch 65,536 (forward; forward + backward; the gradient
   penalty's double backward), synchronised, after warm-up.
4. ``throughput``: ``paper``-preset training steps of ``simclr`` and ``invclr`` through the
   package's ``Trainer`` (bf16 autocast on CUDA, as ``spirograph-train``), the projected wall time
   of the preset's whole schedule, and the encoder's scoring rate (for the estimates below).
5. ``epoch10_simclr``, ``epoch10_invclr``: ``spirograph-train --preset paper`` for 10 of the 50
   epochs (the preset's steps per epoch × 10), then the harness on the ``standard`` suite's
   ``linear`` task, beside the paper's epoch-10 single-draw mean MSE.
6. ``epoch10_averaging``: the ``feature_averaging`` task for both runs, after both linear scores
   (the paper's comparison comes first; averaging encodes 30 draws of every item).

After every stage (and every part of a long one) ``DIR/gpu_report.json`` and ``DIR/gpu_report.md``
are rewritten atomically, so what finished is kept if time runs out or a later stage fails. Each
stage has a cap and is skipped, with the reason recorded, when the time left cannot fit its
estimate; a stage that fails records its error and the next one runs. Training and scoring run in
child processes that are killed at the stage's limit. Exit status: 0 when no stage failed or timed
out, 1 otherwise, 2 for bad arguments (nothing written).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

import spirograph
from spirograph import Spirograph
from spirograph._io import check_output_path, write_atomic
from spirograph._validate import bad_value, check_positive_float, command_line, error_line, unknown_name
from spirograph.cli import flags
from spirograph.generators import compile_switch, sprites
from spirograph.harness.result import ScoreResult
from spirograph.harness.suites import Suite, get_suite
from spirograph_baselines.checkpoint import CHECKPOINT_FILE, CONFIG_FILE, ENCODER_FILE, METRICS_FILE, RunDir
from spirograph_baselines.config import TrainConfig
from spirograph_baselines.load import load_encoder
from spirograph_baselines.loop import Trainer
from spirograph_baselines.losses.gradient_penalty import gradient_penalty, rademacher
from spirograph_baselines.methods import get_method
from spirograph_baselines.presets import get_preset

REPO = Path(__file__).resolve().parents[1]
REPORT_JSON, REPORT_MD = "gpu_report.json", "gpu_report.md"
FORMAT = "spirograph-gpu-check/1"
STAGES = ("environment", "gpu_tests", "render", "sprites_render", "throughput", "epoch10_simclr", "epoch10_invclr", "epoch10_averaging")
METHODS = ("simclr", "invclr")
PRESET = "paper"
PAPER_EPOCH10_MSE = {"simclr": 0.00340, "invclr": 0.00253}
"""PROTOCOL.md §6: the paper's single-draw mean test MSE at epoch 10, without and with the penalty."""
REPORT_RESERVE_S = 5.0  # kept back from every stage's limit for writing the report
SCORE_SAFETY = 1.3  # scoring also renders, fits probes and bootstraps: its estimate is padded


@dataclass(frozen=True)
class Sizes:
    """Every size a run uses; ``FULL`` on a GPU, ``DRY`` for the CPU dry run.

    Attributes:
        render_batch: images per renderer call; render_warmup/render_reps: untimed and timed calls.
        sprites_batch: images per sprites renderer call (the eager double backward holds about 100
            image-sized intermediates, so a quarter of ``render_batch`` on a GPU).
        train_warmup/train_steps: untimed and timed training steps per method (throughput).
        eval_batches: encoder batches timed for the scoring rate.
        compare_epochs: epochs of the preset's schedule trained for the comparison.
        suite: the scoring suite (a registered name or a ``Suite``).
        train_overrides: training settings replacing the preset's (the dry run's tiny model).
        caps: per-stage upper limit in seconds (None: whatever is left of the budget).
        minimum: per-stage least time worth starting it with.
        child_start_s: allowance for a child process to import, create its device context and build.
    """

    render_batch: int
    sprites_batch: int
    render_warmup: int
    render_reps: int
    train_warmup: int
    train_steps: int
    eval_batches: int
    compare_epochs: int
    suite: str | Suite
    train_overrides: Mapping[str, Any] = field(default_factory=dict)
    caps: Mapping[str, float | None] = field(default_factory=dict)
    minimum: Mapping[str, float] = field(default_factory=dict)
    child_start_s: float = 30.0


_CAPS = {
    "environment": 30.0,
    "gpu_tests": 150.0,
    "render": 60.0,
    "sprites_render": 150.0,  # building the fused kernels (Triton) takes most of it
    "throughput": 120.0,
    "epoch10_simclr": None,
    "epoch10_invclr": None,
    "epoch10_averaging": None,
}

FULL = Sizes(
    render_batch=65_536,
    sprites_batch=16_384,
    render_warmup=2,
    render_reps=10,
    train_warmup=3,
    train_steps=20,
    eval_batches=5,
    compare_epochs=10,
    suite="standard",
    caps=_CAPS,
    minimum={
        "environment": 1.0,
        "gpu_tests": 30.0,
        "render": 10.0,
        "sprites_render": 20.0,
        "throughput": 30.0,
        "epoch10_simclr": 60.0,
        "epoch10_invclr": 60.0,
        "epoch10_averaging": 30.0,
    },
    child_start_s=30.0,
)

DRY_SUITE = Suite(
    name="gpu-check-dry-run",
    version=1,
    seed=12,
    n_train=40,
    n_test=20,
    n_averaging_train=20,
    n_averaging_test=10,
    n_robustness_train=20,
    n_robustness_test=10,
    averaging_draws=(1, 5, 10),
    label_fractions=(1.0,),
    knn_neighbours=(1, 3),
    bootstrap_resamples=100,
    batch_size=50,
    description="the dry run's tiny sizes (not a benchmark)",
)

DRY = Sizes(
    render_batch=256,
    sprites_batch=96,
    render_warmup=1,
    render_reps=2,
    train_warmup=1,
    train_steps=2,
    eval_batches=2,
    compare_epochs=2,
    suite=DRY_SUITE,
    # A tiny BatchNorm ConvNet on 64 contents, batch 16: 4 steps per epoch; one warm-up epoch of 4.
    train_overrides={
        "encoder": "convnet",
        "encoder_kwargs": {"widths": [8, 16]},
        "n_contents": 64,
        "batch_size": 16,
        "epochs": 4,
        "warmup_epochs": 1,
    },
    caps=_CAPS,
    minimum={name: 1.0 for name in STAGES},
    child_start_s=10.0,
)


class StageEnd(Exception):
    """A stage ends other than ``ok``: ``status`` (partial, skipped, failed, timed_out), why, what it measured."""

    def __init__(self, status: str, reason: str, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.data = status, reason, dict(data or {})


def stage_limit(left_s: float, cap_s: float | None, need_s: float) -> tuple[float | None, str | None]:
    """``(limit, None)`` for a stage that fits the time left, else ``(None, reason)``.

    Args:
        left_s: seconds left of the budget (after the report reserve).
        cap_s: the stage's own upper limit, or None for no cap.
        need_s: the least time the stage needs (its estimate).
    """
    limit = left_s if cap_s is None else min(cap_s, left_s)
    if limit < need_s:
        return None, f"needs about {need_s:.0f} s; {max(left_s, 0.0):.0f} s of the budget left"
    return limit, None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:500]


# -- the report ----------------------------------------------------------------------------


class Report:
    """The report in memory; ``write`` replaces both files atomically."""

    def __init__(self, out_dir: Path, header: Mapping[str, Any], stages: Sequence[str], previous: Mapping[str, Any] | None) -> None:
        self.out_dir = out_dir
        self.data: dict[str, Any] = {"format": FORMAT, **header, "started": _now(), "elapsed_s": 0.0, "stages": []}
        carried = {s["name"]: s for s in (previous or {}).get("stages", []) if isinstance(s, dict) and "name" in s}
        for name in STAGES:
            if name in stages:
                entry = {"name": name, "status": "pending"}
            elif name in carried and carried[name].get("status") not in ("pending", "running", None):
                entry = dict(carried[name], carried_from=carried[name].get("carried_from", previous.get("started")))
            else:
                entry = {"name": name, "status": "skipped", "reason": "not selected (--stages)"}
            self.data["stages"].append(entry)
        self._t0 = time.monotonic()

    def stage(self, name: str) -> dict[str, Any]:
        return next(s for s in self.data["stages"] if s["name"] == name)

    def write(self) -> None:
        self.data["elapsed_s"] = round(time.monotonic() - self._t0, 1)
        self.data["updated"] = _now()
        write_atomic(self.out_dir / REPORT_JSON, json.dumps(self.data, indent=2, allow_nan=False) + "\n", overwrite=True)
        write_atomic(self.out_dir / REPORT_MD, render_markdown(self.data), overwrite=True)


def _fmt(value: Any, spec: str = ",.0f") -> str:
    if value is None:
        return "–"
    if isinstance(value, (int, float)):
        return format(value, spec)
    return str(value)


def render_markdown(data: Mapping[str, Any]) -> str:
    """The report as markdown: environment, stage summary, then one section per stage with figures."""
    stages = {s["name"]: s for s in data["stages"]}
    lines = ["# GPU check", ""]
    if data.get("dry_run"):
        lines += ["**Dry run**: tiny sizes; the figures only show that every code path ran, they measure nothing.", ""]
    lines += [
        f"Command: `{data.get('command', '')}`",
        "",
        f"Started {data.get('started')}, last written {data.get('updated')}, {data.get('elapsed_s')} s of a {data.get('budget_s')} s budget.",
        "",
    ]
    env = stages["environment"].get("data") or {}
    if env:
        lines += ["## Environment", "", "| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in env.items()] + [""]
    lines += ["## Stages", "", "| stage | status | seconds | note |", "|---|---|---|---|"]
    for s in data["stages"]:
        note = s.get("reason") or s.get("error") or ""
        if s.get("carried_from"):
            note = f"carried over from the report started {s['carried_from']}" + (f"; {note}" if note else "")
        lines.append(f"| {s['name']} | {s['status']} | {_fmt(s.get('seconds'), '.1f')} | {note} |")
    lines.append("")
    # A report written before a stage existed (or carried over from one) has no entry for it.
    data_of = {name: (stages.get(name) or {}).get("data") or {} for name in STAGES}
    lines += _md_tests(data_of["gpu_tests"])
    lines += _md_render(data_of["render"])
    lines += _md_render(data_of["sprites_render"])
    lines += _md_throughput(data_of["throughput"])
    lines += _md_comparison({m: data_of[f"epoch10_{m}"] for m in METHODS}, data_of["epoch10_averaging"])
    return "\n".join(lines) + "\n"


def _md_tests(d: Mapping[str, Any]) -> list[str]:
    if "counts" not in d:
        return []
    c = d["counts"]
    out = [
        "## gpu-marked tests",
        "",
        f"`{d['command']}`: {c['passed']} passed, {c['failed']} failed, {c['errors']} errors, {c['skipped']} skipped.",
        "",
    ]
    out += [f"- `{f['test']}`: {f['message']}" for f in d.get("failures", [])]
    return out + ([""] if d.get("failures") else [])


def _md_render(d: Mapping[str, Any]) -> list[str]:
    if not d.get("measurements"):
        return []
    out = [
        f"## Renderer{' (sprites)' if d.get('generator') == 'sprites' else ''}, batch {d['batch']:,} ({d['dtype']}, resolution {d['resolution']})",
        "",
        "| step | median | best | images/s (median) | timed calls | peak memory (GiB) |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in d["measurements"].items():
        if "error" in m:
            out.append(f"| {name} | failed: {m['error']} | | | | |")
        else:
            out.append(
                f"| {name} | {m['median_s'] * 1e3:.2f} ms | {m['best_s'] * 1e3:.2f} ms | {m['images_per_s']:,.0f} | {m['calls']} | {_fmt(m.get('peak_memory_gib'), '.2f')} |"
            )
    return out + [""]


def _md_throughput(d: Mapping[str, Any]) -> list[str]:
    methods = d.get("methods") or {}
    if not methods:
        return []
    out = [
        f"## `{PRESET}`-preset training throughput ({d.get('precision', '')})",
        "",
        "| method | s/step (mean) | median | pairs/s | steps/epoch | epochs | projected whole run | peak memory (GiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in methods.items():
        if "error" in m:
            out.append(f"| {name} | failed: {m['error']} | | | | | | |")
            continue
        run = m["projected_run_s"]
        out.append(
            f"| {name} | {m['mean_step_s']:.4f} | {m['median_step_s']:.4f} | {m['pairs_per_s']:,.0f} | {m['steps_per_epoch']} | {m['epochs']} "
            f"| {run:,.0f} s ({run / 60:.1f} min) | {_fmt(m.get('peak_memory_gib'), '.2f')} |"
        )
    if d.get("scoring_images_per_s"):
        out += ["", f"Scoring rate (render + encoder in eval mode, batch {d['scoring_batch']}): {d['scoring_images_per_s']:,.0f} images/s."]
    return out + [""]


def _md_comparison(runs: Mapping[str, Mapping[str, Any]], averaging: Mapping[str, Any]) -> list[str]:
    if not any(runs.values()):
        return []
    out = [
        "## Epoch-10 comparison",
        "",
        "| method | steps | linear mean MSE (single draw) [95% CI] | paper, epoch 10 | feature averaging, largest M | training s | scoring s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, d in runs.items():
        if not d:
            continue
        lin, fa = d.get("linear") or {}, averaging.get(name) or {}
        mse = f"{lin['mean_mse']:.5f} [{lin['ci'][0]:.5f}, {lin['ci'][1]:.5f}]" if "mean_mse" in lin else lin.get("status", "–")
        avg = f"M={fa['M']}: {fa['mean_mse']:.5f}" if "mean_mse" in fa else fa.get("status", "–")
        score_s = sum(p.get("seconds", 0.0) for p in (lin, fa))
        train = d.get("training") or {}
        out.append(
            f"| {name} | {_fmt(train.get('steps'), ',')} of {_fmt(d.get('steps'), ',')} | {mse} | {_fmt(d.get('paper_mean_mse'), '.5f')} | {avg} "
            f"| {_fmt(train.get('seconds'), '.0f')} | {score_s:.0f} |"
        )
    return out + ["", "One seed, one nuisance draw per test image; the paper's figures are its single draw at epoch 10.", ""]


# -- shared helpers ------------------------------------------------------------------------


@dataclass
class Context:
    """What every stage sees."""

    sizes: Sizes
    device: torch.device
    out_dir: Path
    seed: int
    overwrite: bool
    report: Report
    deadline: float

    def left(self) -> float:
        return self.deadline - time.monotonic() - REPORT_RESERVE_S

    def save(self, name: str, data: Mapping[str, Any]) -> None:
        """Record a long stage's partial figures (status ``running``) and rewrite the report."""
        self.report.stage(name).update(status="running", data=dict(data))
        self.report.write()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_gib(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2**30, 3) if device.type == "cuda" else None


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def time_calls(fn: Callable[[], Any], device: torch.device, *, warmup: int, reps: int, limit_s: float) -> list[float]:
    """Seconds per call of ``fn`` (synchronised): ``warmup`` untimed calls, then up to ``reps`` timed
    ones while ``limit_s`` lasts (at least one)."""
    start = time.monotonic()
    for _ in range(warmup):
        fn()
    _sync(device)
    times: list[float] = []
    while len(times) < reps and (not times or time.monotonic() - start < limit_s):
        tick = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - tick)
    return times


def paper_configs(method: str, overrides: Mapping[str, Any]) -> tuple[Any, TrainConfig, Any]:
    """``(method class, training config, method config)`` of the paper preset as ``spirograph-train`` builds them."""
    method_cls = get_method(method)
    preset = get_preset(PRESET)
    train = TrainConfig.from_overrides(preset.train_settings(method_cls), overrides)
    return method_cls, train, method_cls.Config.from_overrides(preset.method_settings(method_cls))


def _kill_group(proc: subprocess.Popen) -> None:
    # The child leads its own process group (start_new_session): end it and anything it started.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_child(cmd: Sequence[str], limit_s: float, *, log: Path) -> tuple[int | None, str]:
    """Run ``cmd`` from the repository root with its output in ``log``; ``(exit code or None if killed at
    ``limit_s``, the last lines of its output)``."""
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(list(cmd), cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc: int | None = proc.wait(timeout=max(limit_s, 1.0))
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            rc = None
        except BaseException:
            _kill_group(proc)
            raise
    tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
    return rc, "\n".join(tail)


# -- stages --------------------------------------------------------------------------------


def stage_environment(ctx: Context, limit_s: float) -> dict[str, Any]:
    """Machine, versions and code identity."""
    info: dict[str, Any] = {
        "date": _now(),
        "device": str(ctx.device),
        "gpu": None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "spirograph-bench": spirograph.__version__,
        "git_commit": None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    if ctx.device.type == "cuda":
        props = torch.cuda.get_device_properties(ctx.device)
        info.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            compute_capability=f"{props.major}.{props.minor}",
            multiprocessors=props.multi_processor_count,
            bf16_supported=torch.cuda.is_bf16_supported(),
        )
        try:
            version = torch.cuda.nccl.version()
            info["nccl"] = ".".join(map(str, version)) if isinstance(version, tuple) else str(version)
        except (RuntimeError, AttributeError):
            info["nccl"] = None
        if shutil.which("nvidia-smi"):
            smi = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=limit_s
            )
            info["driver"] = smi.stdout.strip().splitlines()[0] if smi.returncode == 0 and smi.stdout.strip() else None
    if shutil.which("git"):
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=limit_s)
        if head.returncode == 0:
            info["git_commit"] = head.stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=limit_s
            )
            info["git_dirty"] = bool(dirty.stdout.strip()) if dirty.returncode == 0 else None
    return info


def parse_junit(path: Path) -> dict[str, Any]:
    """Counts and failures of a pytest junit-xml file."""
    root = ElementTree.parse(path).getroot()
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failures = []
    for case in root.iter("testcase"):
        test = "::".join(part for part in (case.get("classname"), case.get("name")) if part)
        kinds = {child.tag: child for child in case}
        if "failure" in kinds or "error" in kinds:
            kind = "failure" if "failure" in kinds else "error"
            counts["failed" if kind == "failure" else "errors"] += 1
            node = kinds[kind]
            # pytest's "E   ..." lines say what went wrong; a collection error's message says only that it failed.
            detail = [line[1:].strip() for line in (node.text or "").splitlines() if line.startswith("E ")]
            message = detail or (node.get("message") or "").strip().splitlines()
            failures.append({"test": test, "kind": kind, "message": (message[0] if message else "")[:300]})
        elif "skipped" in kinds:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return {"counts": counts, "failures": failures}


def stage_gpu_tests(ctx: Context, limit_s: float) -> dict[str, Any]:
    """``pytest -m gpu`` over the test suite in a subprocess."""
    xml = ctx.out_dir / "gpu_tests.xml"
    # A module that fails to import (an error in the report) must not stop the others' gpu tests.
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "gpu",
        "-q",
        "-p",
        "no:randomly",
        "--continue-on-collection-errors",
        f"--junitxml={xml}",
        "tests",
    ]
    rc, tail = run_child(cmd, limit_s, log=ctx.out_dir / "gpu_tests.log")
    data: dict[str, Any] = {"command": "python -m pytest -m gpu -q --continue-on-collection-errors tests", "exit_code": rc}
    if rc is None:
        raise StageEnd("timed_out", f"pytest did not finish in {limit_s:.0f} s", {**data, "output_tail": tail})
    if rc not in (0, 1, 5) or not xml.exists():  # 5: nothing collected
        raise StageEnd(
            "failed", f"pytest exited with {rc}: {tail.splitlines()[-1] if tail else 'no output'}", {**data, "output_tail": tail}
        )
    data.update(parse_junit(xml))
    counts = data["counts"]
    if counts["failed"] or counts["errors"]:
        raise StageEnd("failed", f"{counts['failed']} failed, {counts['errors']} errors (collection errors included)", data)
    return data


def stage_render(ctx: Context, limit_s: float) -> dict[str, Any]:
    """Renderer throughput: forward, forward + backward, the gradient penalty's double backward."""
    sizes, device = ctx.sizes, ctx.device
    gen = Spirograph(device=device)
    n = sizes.render_batch
    content, nuisance = gen.sample(n, seed=ctx.seed, stream="gpu-check/render")
    pixels = 3 * gen.resolution**2
    draw = torch.Generator(device=device).manual_seed(ctx.seed)
    weights = torch.randn(3, gen.resolution, gen.resolution, generator=draw, device=device)
    projection = (torch.randn(pixels, 64, generator=draw, device=device) / math.sqrt(pixels)).requires_grad_(True)
    n_prior = paper_configs("invclr", {})[2].n_prior
    prior = gen.sample_nuisance(n * n_prior, generator=draw).reshape(n, n_prior, -1)
    signs = rademacher((n, 64), generator=draw, dtype=torch.float32, device=device)

    def forward() -> None:
        with torch.no_grad():
            gen.render(content, nuisance, chunk_size=None, validate=False)

    def forward_backward() -> None:
        leaf = nuisance.detach().requires_grad_(True)
        (gen.render(content, leaf, validate=False) * weights).sum().backward()

    def penalty_double_backward() -> None:
        # The InvCLR pattern (PROTOCOL.md §3) with a linear "encoder": grad of a Rademacher
        # projection of ĥ w.r.t. α with create_graph, then backward of P to the projection.
        leaf = nuisance.detach().requires_grad_(True)
        h = gen.render(content, leaf, validate=False).flatten(1) @ projection
        penalty, _ = gradient_penalty(h, leaf, prior, signs, clamp=math.inf)
        penalty.backward()
        projection.grad = None

    data: dict[str, Any] = {
        "batch": n,
        "dtype": "float32",
        "resolution": gen.resolution,
        "n_points": gen.n_points,
        "n_prior": n_prior,
        "measurements": {},
    }
    steps = {"forward": forward, "forward_backward": forward_backward, "penalty_double_backward": penalty_double_backward}
    return _time_steps(steps, data, ctx, limit_s)


def _time_steps(steps: Mapping[str, Callable[[], None]], data: dict[str, Any], ctx: Context, limit_s: float) -> dict[str, Any]:
    """Time each step (``data["batch"]`` images per call) into ``data["measurements"]``, sharing ``limit_s`` among them."""
    device, sizes, n = ctx.device, ctx.sizes, data["batch"]
    started, errors = time.monotonic(), []
    for i, (name, fn) in enumerate(steps.items()):
        share = (limit_s - (time.monotonic() - started)) / (len(steps) - i)
        _reset_peak(device)
        try:
            times = time_calls(fn, device, warmup=sizes.render_warmup, reps=sizes.render_reps, limit_s=share)
        except (RuntimeError, ValueError) as err:  # an out-of-memory error on a small device among them
            data["measurements"][name] = {"error": _one_line(err)}
            errors.append(name)
            continue
        median = statistics.median(times)
        data["measurements"][name] = {
            "median_s": median,
            "best_s": min(times),
            "images_per_s": n / median,
            "calls": len(times),
            "peak_memory_gib": _peak_gib(device),
        }
    _reset_peak(device)
    if errors:
        raise StageEnd("failed", "failed: " + ", ".join(errors), data)
    return data


def stage_sprites_render(ctx: Context, limit_s: float) -> dict[str, Any]:
    """Sprites renderer throughput, eager and fused (SPIROGRAPH_COMPILE=1): forward and the penalty's double backward.

    The fused kernels are built in the first (untimed) call of each fused step.
    """
    device, n = ctx.device, ctx.sizes.sprites_batch
    draw = torch.Generator(device=device).manual_seed(ctx.seed)
    factors = {name: lo + (hi - lo) * torch.rand(n, generator=draw, device=device) for name, (lo, hi) in sprites.DEFAULT_RANGES.items()}
    resolution = 32
    pixels = 3 * resolution**2
    projection = (torch.randn(pixels, 64, generator=draw, device=device) / math.sqrt(pixels)).requires_grad_(True)
    n_prior = paper_configs("invclr", {})[2].n_prior
    lows, highs = (torch.tensor([sprites.DEFAULT_RANGES[k][j] for k in sprites.DEFAULT_NUISANCE], device=device) for j in (0, 1))
    prior = lows + (highs - lows) * torch.rand(n, n_prior, len(lows), generator=draw, device=device)
    signs = rademacher((n, 64), generator=draw, dtype=torch.float32, device=device)

    def with_setting(value: str, step: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            with compile_switch.setting(value):
                step()

        return run

    def forward() -> None:
        with torch.no_grad():
            sprites.render_unchecked(factors, resolution=resolution)

    def penalty_double_backward() -> None:
        leaf = torch.stack([factors[k] for k in sprites.DEFAULT_NUISANCE], dim=1).requires_grad_(True)
        images = sprites.render_unchecked({**factors, **dict(zip(sprites.DEFAULT_NUISANCE, leaf.unbind(1)))}, resolution=resolution)
        penalty, _ = gradient_penalty(images.flatten(1) @ projection, leaf, prior, signs, clamp=math.inf)
        penalty.backward()
        projection.grad = None

    data: dict[str, Any] = {
        "generator": "sprites",
        "batch": n,
        "dtype": "float32",
        "resolution": resolution,
        "n_prior": n_prior,
        "measurements": {},
    }
    steps = {
        "forward (eager)": with_setting("0", forward),
        "forward (fused)": with_setting("1", forward),
        "penalty_double_backward (eager)": with_setting("0", penalty_double_backward),
        "penalty_double_backward (fused)": with_setting("1", penalty_double_backward),
    }
    return _time_steps(steps, data, ctx, limit_s)


def _trainer(method: str, ctx: Context, run_dir: Path) -> Trainer:
    _, train_cfg, method_cfg = paper_configs(method, ctx.sizes.train_overrides)
    return Trainer(
        method_name=method,
        method_config=method_cfg,
        train_config=train_cfg,
        seed=ctx.seed,
        device=ctx.device,
        run_dir=RunDir(run_dir),
        progress=False,
    )


def _scoring_rate(trainer: Trainer, ctx: Context, suite: Suite) -> float:
    """Images/s of rendering and encoding in eval mode at the suite's batch size (the harness's inner loop)."""
    gen = Spirograph(device=ctx.device, **suite.render_options())
    content, nuisance = gen.sample(suite.batch_size, seed=ctx.seed, stream="gpu-check/scoring")
    encoder = trainer.frozen_encoder()

    def encode() -> None:
        with torch.no_grad():
            encoder(gen.render(content, nuisance, validate=False))

    times = time_calls(encode, ctx.device, warmup=1, reps=ctx.sizes.eval_batches, limit_s=10.0)
    return suite.batch_size / statistics.median(times)


def stage_throughput(ctx: Context, limit_s: float) -> dict[str, Any]:
    """Training steps of the paper preset through the package's Trainer, and the projected whole run."""
    suite = get_suite(ctx.sizes.suite)
    precision = "bf16 autocast" if ctx.device.type == "cuda" else "float32 (autocast is CUDA-only in the trainer)"
    data: dict[str, Any] = {"preset": PRESET, "precision": precision, "overrides": dict(ctx.sizes.train_overrides), "methods": {}}
    started, errors = time.monotonic(), []
    for i, method in enumerate(METHODS):
        share = (limit_s - (time.monotonic() - started)) / (len(METHODS) - i)
        _reset_peak(ctx.device)
        try:
            with tempfile.TemporaryDirectory(dir=ctx.out_dir) as tmp:
                trainer = _trainer(method, ctx, Path(tmp))
                cfg = trainer.cfg
                times = time_calls(trainer.train_step, ctx.device, warmup=ctx.sizes.train_warmup, reps=ctx.sizes.train_steps, limit_s=share)
                mean = sum(times) / len(times)
                data["methods"][method] = {
                    "mean_step_s": mean,
                    "median_step_s": statistics.median(times),
                    "timed_steps": len(times),
                    "batch_size": cfg.batch_size,
                    "pairs_per_s": cfg.batch_size / mean,
                    "steps_per_epoch": cfg.steps_per_epoch,
                    "epochs": cfg.epochs,
                    "projected_run_s": cfg.epochs * cfg.steps_per_epoch * mean,
                    "peak_memory_gib": _peak_gib(ctx.device),
                }
                if "scoring_images_per_s" not in data:
                    data["scoring_images_per_s"] = _scoring_rate(trainer, ctx, suite)
                    data["scoring_batch"] = suite.batch_size
                del trainer
        except (RuntimeError, ValueError) as err:
            data["methods"][method] = {"error": _one_line(err)}
            errors.append(method)
        ctx.save("throughput", data)
    _reset_peak(ctx.device)
    if errors:
        raise StageEnd("failed", "failed: " + ", ".join(errors), data)
    return data


def scoring_images(suite: Suite, tasks: Sequence[str]) -> int:
    """Images the harness encodes for ``tasks`` (single draw for ``linear``; every draw for averaging)."""
    count = 0
    if "linear" in tasks:
        count += suite.n_train + suite.n_test
    if "feature_averaging" in tasks:
        count += (suite.n_averaging_train + suite.n_averaging_test) * suite.max_draws
    return count


def epoch10_plan(ctx: Context, method: str) -> dict[str, Any]:
    """Steps and time estimates (None where the throughput stage has no figure) of one comparison run."""
    _, cfg, _ = paper_configs(method, ctx.sizes.train_overrides)
    suite = get_suite(ctx.sizes.suite)
    steps = ctx.sizes.compare_epochs * cfg.steps_per_epoch
    measured = ctx.report.stage("throughput").get("data") or {}
    step_s = (measured.get("methods", {}).get(method) or {}).get("mean_step_s")
    rate = measured.get("scoring_images_per_s")
    start = ctx.sizes.child_start_s

    def score_s(task: str) -> float | None:
        return None if rate is None else start + SCORE_SAFETY * scoring_images(suite, [task]) / rate

    return {
        "steps": steps,
        "steps_per_epoch": cfg.steps_per_epoch,
        "epochs": ctx.sizes.compare_epochs,
        "of_epochs": cfg.epochs,
        "train_s": None if step_s is None else start + steps * step_s,
        "linear_s": score_s("linear"),
        "feature_averaging_s": score_s("feature_averaging"),
    }


def run_dir_of(ctx: Context, method: str) -> Path:
    """Where the comparison run of ``method`` lives (under ``DIR/runs``)."""
    return ctx.out_dir / "runs" / f"{PRESET}-{method}-epoch{ctx.sizes.compare_epochs}"


def epoch10_need(ctx: Context, method: str) -> float:
    """Least time worth starting a comparison run with: training plus the linear score."""
    plan = epoch10_plan(ctx, method)
    parts = (plan["train_s"], plan["linear_s"])
    floor = ctx.sizes.minimum[f"epoch10_{method}"]
    return floor if any(p is None for p in parts) else max(sum(parts), floor)


def finished_run(ctx: Context, method: str) -> bool:
    """Whether this report's ``epoch10_<method>`` stage trained its run to the end."""
    stage = ctx.report.stage(f"epoch10_{method}")
    return stage["status"] in ("ok", "partial") and (run_dir_of(ctx, method) / ENCODER_FILE).is_file()


def averaging_need(ctx: Context) -> float:
    """Least time worth starting the averaging stage with: the first finished run's estimate."""
    floor = ctx.sizes.minimum["epoch10_averaging"]
    for method in METHODS:
        if finished_run(ctx, method):
            estimate = epoch10_plan(ctx, method)["feature_averaging_s"]
            return floor if estimate is None else max(estimate, floor)
    return floor


def _train_argv(ctx: Context, method: str, run_dir: Path, steps: int) -> list[str]:
    argv = [
        "--method",
        method,
        "--preset",
        PRESET,
        "--out",
        str(run_dir),
        "--seed",
        str(ctx.seed),
        "--device",
        str(ctx.device),
        "--suite",
        "none",
        "--no-progress",
        "--set",
        f"max_steps={steps}",
    ]
    for key, value in ctx.sizes.train_overrides.items():
        argv += ["--set", f"{key}={json.dumps(value, separators=(',', ':'))}"]
    return argv


def _logged_steps(run_dir: Path) -> tuple[int, float | None]:
    """Last logged step and the median logged pairs/s of a run's metrics.jsonl."""
    path = run_dir / METRICS_FILE
    if not path.exists():
        return 0, None
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut off when the run was stopped
    rates = [e["pairs_per_s"] for e in entries if isinstance(e.get("pairs_per_s"), (int, float)) and math.isfinite(e["pairs_per_s"])]
    return (entries[-1].get("step", 0) if entries else 0), (statistics.median(rates) if rates else None)


def train_run(ctx: Context, method: str, run_dir: Path, steps: int, limit_s: float) -> dict[str, Any]:
    """``spirograph-train`` in a child process. With ``--overwrite``, an earlier run with the same settings is
    continued from its checkpoint (or kept when finished); any other earlier run is replaced."""
    base = [sys.executable, "-m", "spirograph_baselines.train", *_train_argv(ctx, method, run_dir, steps)]
    attempts = [base]
    if ctx.overwrite and (run_dir / CONFIG_FILE).exists():
        attempts = ([base + ["--resume"]] if (run_dir / CHECKPOINT_FILE).exists() else []) + [base + ["--overwrite"]]
    started = time.monotonic()
    for i, cmd in enumerate(attempts):
        rc, tail = run_child(cmd, limit_s - (time.monotonic() - started), log=run_dir.parent / f"train-{method}.log")
        last, rate = _logged_steps(run_dir)
        record = {
            "command": "spirograph-train " + shlex.join(cmd[3:]),
            "seconds": round(time.monotonic() - started, 1),
            "steps": last,
            "logged_pairs_per_s": rate,
        }
        if rc is None:
            raise StageEnd("timed_out", f"training stopped at the limit after {last} of {steps} steps", {"training": record})
        if rc == 0 and (run_dir / ENCODER_FILE).exists():
            return record
        if i == len(attempts) - 1:
            raise StageEnd(
                "failed",
                f"spirograph-train exited with {rc}: {tail.splitlines()[-1] if tail else 'no output'}",
                {"training": {**record, "output_tail": tail}},
            )
    raise AssertionError("unreachable")


def _score_child(run_dir: str, suite: Any, task: str, device: str, name: str, error_file: str) -> None:
    """Child-process body: load the run's encoder, score ``task``, save ``score-<task>.json`` (or the error)."""
    try:
        encoder = load_encoder(run_dir, device=device)
        disclosures = {"training": f"{name}: spirograph-train --preset {PRESET}, stopped early (gpu_check)", "test_time_passes": 1}
        result = spirograph.score(
            encoder,
            suite=suite,
            device=device,
            name=name,
            tasks=[task],
            progress=False,
            disclosures=disclosures,
            command="python benchmarks/gpu_check.py",
        )
        result.save(Path(run_dir) / f"score-{task}.json", overwrite=True)
    except BaseException as err:
        Path(error_file).write_text(_one_line(err) + "\n" + traceback.format_exc(), encoding="utf-8")
        raise SystemExit(1) from None


def _linear_figures(result: ScoreResult) -> dict[str, Any]:
    factors = result.to_dict()["metrics"]["linear"]["per_factor"]
    return {
        "mean_mse": result.metric("linear.mean_mse"),
        "ci": list(result.interval("linear.mean_mse")),
        "per_factor_mse": {k: v["mse"]["value"] for k, v in factors.items()},
    }


def _averaging_figures(result: ScoreResult) -> dict[str, Any]:
    block = result.to_dict()["metrics"]["feature_averaging"]
    curve = [{"M": p["M"], "mean_mse": p["mean_mse"]["value"]} for p in block["curve"]]
    top = curve[-1]["M"]
    return {
        "M": top,
        "mean_mse": result.metric(f"feature_averaging.M{top}.mean_mse"),
        "ci": list(result.interval(f"feature_averaging.M{top}.mean_mse")),
        "curve": curve,
    }


SCORE_FIGURES = {"linear": _linear_figures, "feature_averaging": _averaging_figures}


def score_run(ctx: Context, method: str, task: str, estimate: float | None, left: Callable[[], float]) -> dict[str, Any]:
    """Score ``method``'s comparison run on ``task`` in a spawned child process killed when ``left()`` runs out.

    Returns:
        The task's entry: ``status`` (ok, skipped, timed_out, failed) with its figures or the reason.
    """
    if estimate is not None and estimate > left():
        return {"status": "skipped", "reason": f"needs about {estimate:.0f} s; {max(left(), 0):.0f} s left"}
    run_dir = run_dir_of(ctx, method)
    out, error_file = run_dir / f"score-{task}.json", run_dir / f"score-{task}.error"
    for stale in (out, error_file):
        stale.unlink(missing_ok=True)
    name = f"{method}-{PRESET}-epoch{ctx.sizes.compare_epochs}-seed{ctx.seed}"
    child = multiprocessing.get_context("spawn").Process(
        target=_score_child, args=(str(run_dir), get_suite(ctx.sizes.suite), task, str(ctx.device), name, str(error_file))
    )
    tick = time.monotonic()
    child.start()
    try:
        child.join(max(left(), 1.0))
    finally:
        timed_out = child.is_alive()
        if timed_out:
            child.kill()
        child.join()
    seconds = round(time.monotonic() - tick, 1)
    if timed_out:
        return {"status": "timed_out", "reason": f"scoring did not finish in the {seconds:.0f} s left", "seconds": seconds}
    if child.exitcode != 0 or not out.exists():
        detail = error_file.read_text(encoding="utf-8").splitlines()[0] if error_file.exists() else f"exit code {child.exitcode}"
        return {"status": "failed", "reason": detail, "seconds": seconds}
    return {"status": "ok", **SCORE_FIGURES[task](ScoreResult.load(out)), "seconds": seconds, "result": str(out.relative_to(ctx.out_dir))}


def _left_within(ctx: Context, limit_s: float) -> Callable[[], float]:
    started = time.monotonic()
    return lambda: min(limit_s - (time.monotonic() - started), ctx.left())


def stage_epoch10(ctx: Context, limit_s: float, method: str) -> dict[str, Any]:
    """Train ``method`` with the paper preset for ``compare_epochs`` epochs, then score it on ``linear``."""
    plan = epoch10_plan(ctx, method)
    run_dir = run_dir_of(ctx, method)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "steps": plan["steps"],
        "steps_per_epoch": plan["steps_per_epoch"],
        "epochs": plan["epochs"],
        "of_epochs": plan["of_epochs"],
        "paper_mean_mse": PAPER_EPOCH10_MSE[method],
        "estimates_s": {k: plan[k] for k in ("train_s", "linear_s", "feature_averaging_s")},
        "run_dir": str(run_dir.relative_to(ctx.out_dir)),
        "suite": get_suite(ctx.sizes.suite).name,
    }
    left = _left_within(ctx, limit_s)
    try:
        data["training"] = train_run(ctx, method, run_dir, plan["steps"], left())
    except StageEnd as end:
        raise StageEnd(end.status, end.reason, {**data, **end.data}) from None
    ctx.save(f"epoch10_{method}", data)
    data["linear"] = score_run(ctx, method, "linear", plan["linear_s"], left)
    if data["linear"]["status"] != "ok":
        # Training finished, so a linear score that could not fit still leaves a partial stage.
        status = "partial" if data["linear"]["status"] == "skipped" else data["linear"]["status"]
        raise StageEnd(status, f"linear: {data['linear']['reason']}", data)
    return data


def stage_averaging(ctx: Context, limit_s: float) -> dict[str, Any]:
    """Feature averaging (the suite's M curve) for every finished comparison run, after both linear scores."""
    data: dict[str, Any] = {"suite": get_suite(ctx.sizes.suite).name}
    left = _left_within(ctx, limit_s)
    for method in METHODS:
        if not finished_run(ctx, method):
            data[method] = {"status": "skipped", "reason": f"no finished epoch10_{method} run"}
        else:
            data[method] = score_run(ctx, method, "feature_averaging", epoch10_plan(ctx, method)["feature_averaging_s"], left)
        ctx.save("epoch10_averaging", data)
    statuses = {data[m]["status"] for m in METHODS}
    if statuses != {"ok"}:
        status = "partial" if "ok" in statuses else ("skipped" if statuses == {"skipped"} else "failed")
        raise StageEnd(status, "; ".join(f"{m}: {data[m]['reason']}" for m in METHODS if data[m]["status"] != "ok"), data)
    return data


STAGE_FUNCTIONS: dict[str, Callable[[Context, float], dict[str, Any]]] = {
    "environment": stage_environment,
    "gpu_tests": stage_gpu_tests,
    "render": stage_render,
    "sprites_render": stage_sprites_render,
    "throughput": stage_throughput,
    **{f"epoch10_{m}": (lambda ctx, limit, m=m: stage_epoch10(ctx, limit, m)) for m in METHODS},
    "epoch10_averaging": stage_averaging,
}


def stage_need(ctx: Context, name: str) -> float:
    if name == "epoch10_averaging":
        return averaging_need(ctx)
    if name.startswith("epoch10_"):
        return epoch10_need(ctx, name[len("epoch10_") :])
    return ctx.sizes.minimum[name]


def run_stage(ctx: Context, name: str) -> str:
    """Run one stage within its limit, record its outcome, rewrite the report; return its status."""
    entry = ctx.report.stage(name)
    limit, reason = stage_limit(ctx.left(), ctx.sizes.caps[name], stage_need(ctx, name))
    if limit is None:
        entry.update(status="skipped", reason=reason)
        ctx.report.write()
        return "skipped"
    entry.update(status="running", limit_s=round(limit, 1))
    ctx.report.write()
    tick = time.monotonic()
    try:
        entry["data"] = STAGE_FUNCTIONS[name](ctx, limit)
        entry["status"] = "ok"
    except StageEnd as end:
        entry.update(status=end.status, reason=end.reason, data=end.data)
    except Exception as err:  # a failed stage is recorded and the next one runs
        entry.update(status="failed", error=_one_line(err), traceback=traceback.format_exc().splitlines()[-20:])
    entry["seconds"] = round(time.monotonic() - tick, 1)
    ctx.report.write()
    return entry["status"]


# -- command line --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python benchmarks/gpu_check.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", required=True, type=Path, help=f"folder for {REPORT_JSON}, {REPORT_MD}, test output and the comparison runs"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="tiny sizes (default device: cpu): exercise every stage in well under a minute"
    )
    parser.add_argument("--budget-s", type=float, default=720.0, help="wall-time budget of the whole check in seconds (default 720)")
    parser.add_argument("--stages", nargs="+", metavar="STAGE", help="stages to run (default all): " + ", ".join(STAGES))
    parser.add_argument("--device", default=None, help="torch device (default: cuda; cpu with --dry-run)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the comparison runs and the benchmark inputs (default 0)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing report (stages not in --stages are carried over from it; earlier comparison runs with the same settings are continued)",
    )
    return parser


def _check_out(args: argparse.Namespace) -> dict[str, Any] | None:
    """Refuse to overwrite a report without ``--overwrite``; the earlier report to carry stages over from, if any."""
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise bad_value("--out", str(out), "a folder (the path exists and is not one)")
    if not out.is_dir():
        return None
    for report in (REPORT_JSON, REPORT_MD):
        check_output_path(out / report, overwrite=args.overwrite)
    if not (args.overwrite and args.stages and (out / REPORT_JSON).is_file()):
        return None
    try:
        previous = json.loads((out / REPORT_JSON).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise bad_value("--out", str(out), f"a folder whose {REPORT_JSON} is readable to carry stages over from ({err})") from None
    if not isinstance(previous, dict) or previous.get("format") != FORMAT:
        raise bad_value("--out", str(out), f"a folder whose {REPORT_JSON} is a {FORMAT} report")
    if previous.get("dry_run") != args.dry_run:
        kind = "a dry run" if previous.get("dry_run") else "a full run"
        raise bad_value(
            "--out",
            str(out),
            f"a report of the same kind to carry the other stages over from (it holds {kind}); pass all stages or a new folder",
        )
    return previous


def _check_device(args: argparse.Namespace) -> torch.device:
    text = args.device or ("cpu" if args.dry_run else "cuda")
    try:
        device = torch.device(text)
    except (RuntimeError, TypeError):
        raise bad_value("--device", text, "a torch device such as 'cuda', 'cuda:1' or 'cpu'") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise bad_value("--device", text, "an available CUDA device (CUDA is not available here; --dry-run runs tiny sizes on the CPU)")
        return torch.device("cuda", torch.cuda.current_device() if device.index is None else device.index)
    if device.type != "cpu":
        raise bad_value("--device", text, "'cpu' or a CUDA device")
    if not args.dry_run:
        raise bad_value("--device", text, "a CUDA device (the full sizes are a GPU job; --dry-run runs tiny sizes on the CPU)")
    return device


def check_args(args: argparse.Namespace) -> tuple[torch.device, tuple[str, ...], dict[str, Any] | None]:
    """Validate everything before anything is written: ``(device, stages, previous report or None)``."""
    check_positive_float("--budget-s", args.budget_s)
    if args.seed < 0:
        raise bad_value("--seed", args.seed, "an integer >= 0")
    stages = tuple(args.stages or STAGES)
    for name in stages:
        if name not in STAGES:
            raise unknown_name("stage", name, STAGES)
    previous = _check_out(args)
    return _check_device(args), stages, previous


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with command_line(flags(parser)):  # messages name this script's flags (--overwrite)
            device, stages, previous = check_args(args)
        args.out.mkdir(parents=True, exist_ok=True)
    except (ValueError, OSError) as err:
        print(f"gpu_check: error: {error_line(err)}", file=sys.stderr)
        return 2
    sizes = DRY if args.dry_run else FULL
    header = {
        "dry_run": args.dry_run,
        "command": "python benchmarks/gpu_check.py " + " ".join(argv),
        "budget_s": args.budget_s,
        "seed": args.seed,
    }
    # The report needs the machine it describes: the environment is recorded whatever --stages says.
    order = tuple(s for s in STAGES if s in stages or s == "environment")
    report = Report(args.out, header, order, previous)
    ctx = Context(
        sizes=sizes,
        device=device,
        out_dir=args.out,
        seed=args.seed,
        overwrite=args.overwrite,
        report=report,
        deadline=time.monotonic() + args.budget_s,
    )
    report.write()
    statuses = []
    try:
        for name in order:
            statuses.append(run_stage(ctx, name))
            print(f"gpu_check: {name}: {statuses[-1]}", file=sys.stderr)
    except KeyboardInterrupt:
        for entry in report.data["stages"]:
            if entry["status"] in ("pending", "running"):
                entry.update(status="skipped", reason="interrupted")
        report.write()
        return 130
    print(f"gpu_check: report in {args.out / REPORT_MD}", file=sys.stderr)
    return 1 if any(s in ("failed", "timed_out") for s in statuses) else 0


if __name__ == "__main__":
    sys.exit(main())
