"""``spirograph.score``: score any encoder on a suite and return a ``ScoreResult``."""

from __future__ import annotations

import datetime
import math
import platform
import sys
import time
from typing import Any, Mapping

import torch
from torch import nn

from .._validate import bad_value
from .._version import __version__
from ..factors import FactorSpace
from ..generators import compile_switch
from .cost import format_estimate, suite_passes
from .encoders import CHECK_ITEMS, CHECK_STREAM, FactorEncoder, check_encoder, parameter_count
from .features import FeatureSource
from .metrics import Bootstrap
from .result import MAX_NAME_CHARS, SCHEMA_VERSION, ScoreResult
from .suites import Suite, get_suite
from .tasks import RUNNERS, Context, check_solver, check_tasks


def score(
    encoder: Any,
    *,
    suite: str | Suite = "quick",
    generator: str | None = None,
    device: str | torch.device = "cpu",
    name: str | None = None,
    disclosures: Mapping[str, Any] | None = None,
    tasks: Any = None,
    command: str | None = None,
    progress: bool = True,
    solver: str = "closed_form",
) -> ScoreResult:
    """Score a frozen encoder on a Spirograph suite (PROTOCOL.md §4, §5): probes, curves and intervals.

    The encoder is checked on a small fixed batch first (finite (B, D) features, the same
    features on a repeated call, no dependence on the rest of the batch). An ``nn.Module`` is
    moved to ``device``, put in eval mode for the run (its previous mode is restored afterwards),
    run under ``torch.no_grad``, and its parameters are counted.

    Args:
        encoder: a callable mapping float images (B, 3, R, R) on ``device`` to features (B, D).
        suite: a registered suite name (``"quick"``, ``"standard"``) or a ``Suite``.
        generator: whose suite ``suite`` names (default ``"spirograph"``; a ``Suite`` carries its own).
        device: where images are rendered and the encoder runs.
        name: the entry's name on the leaderboard (default: a function's name, else the class name).
        disclosures: facts about the method, e.g. ``{"uses_nuisance_labels": False,
            "test_time_passes": 1, "training": "simclr cpu-quick seed 0"}``; values are strings,
            numbers, booleans or None.
        tasks: task names to run (default all): ``linear``, ``feature_averaging``,
            ``robustness``, ``invariance``, ``label_efficiency``, ``nonlinear``.
        command: the command line that produced the score, recorded in the result.
        progress: show progress bars on stderr.
        solver: ``"closed_form"`` ridge (default) or ``"lbfgs"``, the paper's 500-step optimiser,
            for the probes with the paper's weight.

    Returns:
        A validated ``ScoreResult``; ``result.metric("linear.mean_r2")`` reads a value.

    Raises:
        ValueError: an unknown suite or task (did-you-mean), a bad argument, or an encoder that
            breaks the contract (``EncoderError``).
    """
    if not (callable(encoder) or isinstance(encoder, FactorEncoder)):
        raise bad_value("encoder", type(encoder).__name__, "a callable mapping images (B, 3, R, R) to features (B, D)")
    if generator is not None and isinstance(suite, Suite) and suite.generator != generator:
        raise bad_value("generator", generator, f"the given suite's own generator {suite.generator!r}")
    suite = get_suite(suite, generator="spirograph" if generator is None else generator)
    if suite.result_schema != SCHEMA_VERSION:
        raise bad_value("suite", f"{suite.name} version {suite.version}",
                        f"a suite of result schema {SCHEMA_VERSION} (this one describes schema-{suite.result_schema} results "
                        f"and is kept for checking them; score with the current version)")
    chosen = check_tasks(tasks)
    solver = check_solver(solver)
    try:
        device = torch.device(device)
        torch.empty(1, device=device)
    except (RuntimeError, TypeError, AssertionError):
        raise bad_value("device", str(device), "an available torch device such as 'cpu' or 'cuda'") from None
    if name is None:
        name = getattr(encoder, "__name__", None) or type(encoder).__name__
    name = check_entry_name(name)
    disclosures = _check_disclosures(disclosures)
    if command is not None and not isinstance(command, str):
        raise bad_value("command", command, "a string or None")

    was_training = encoder.training if isinstance(encoder, nn.Module) else None
    if isinstance(encoder, nn.Module):
        encoder.to(device)
        encoder.eval()
    try:
        return _run(encoder, suite, device, name, disclosures, chosen, command, progress, solver)
    finally:
        if was_training is not None:
            encoder.train(was_training)


def check_entry_name(name: Any) -> str:
    """Return ``name`` if a result file can hold it as an entry name: non-blank, one printable line, at most 200 characters.

    Checked before any scoring work, so a bad name never costs a run (the result validator would
    refuse it only at the end).

    Raises:
        ValueError: anything else (a line break, a control or bidirectional character, too long).
    """
    allowed = f"a non-blank, one-line name of at most {MAX_NAME_CHARS} printable characters"
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise bad_value("name", name, allowed)
    return name


def _print_estimate(source: FeatureSource, suite: Suite, tasks: tuple[str, ...], name: str) -> None:
    """Time the first batch of test items (cached: it is not encoded again) and print the suite's expected time."""
    count = min(suite.batch_size, suite.n_test)
    tick = time.perf_counter()
    source.features("test", count)
    per_image = (time.perf_counter() - tick) / count
    passes = suite_passes(suite, tasks, len(source.space.content) + len(source.space.nuisance))
    print(f"score {name}: {suite.name} v{suite.version} will take {format_estimate(passes * per_image)} here "
          f"({passes:,.0f} image passes at {1 / per_image:,.0f} images/s on the first batch; probes not counted)",
          file=sys.stderr, flush=True)


def _check_disclosures(disclosures: Mapping[str, Any] | None) -> dict[str, Any]:
    if disclosures is None:
        return {}
    if not isinstance(disclosures, Mapping):
        raise bad_value("disclosures", disclosures, "a dict of name -> string, number, boolean or None")
    out = {}
    for key, value in disclosures.items():
        if not isinstance(key, str) or not key:
            raise bad_value("disclosures key", key, "a non-empty string")
        if not (value is None or isinstance(value, (str, bool, int, float))) or (isinstance(value, float) and not math.isfinite(value)):
            raise bad_value(f"disclosures[{key!r}]", value, "a string, number, boolean or None")
        out[key] = value
    return out


def _run(encoder, suite: Suite, device, name, disclosures, chosen, command, progress, solver) -> ScoreResult:
    started = time.perf_counter()
    space = FactorSpace(generator=suite.generator)
    source = FeatureSource(encoder, suite, device=device, space=space, progress=progress)
    gen = source.generator()
    content, nuisance = gen.sample(CHECK_ITEMS, seed=suite.seed, stream=CHECK_STREAM)
    images = None if isinstance(encoder, FactorEncoder) else gen.render(content, nuisance, validate=False)
    feature_dim = check_encoder(encoder, images, content, nuisance)
    if progress and images is not None:
        _print_estimate(source, suite, chosen, name)

    ctx = Context(source, suite, Bootstrap(suite.bootstrap_resamples, suite.confidence, suite.seed), chosen, solver)
    metrics: dict[str, Any] = {}
    task_seconds: dict[str, float] = {}
    for task in chosen:
        tick = time.perf_counter()
        if progress:
            print(f"score {name}: {task}", file=sys.stderr, flush=True)
        metrics.update(RUNNERS[task](ctx))
        task_seconds[task] = round(time.perf_counter() - tick, 3)

    data = {
        "schema_version": SCHEMA_VERSION,
        "package_version": __version__,
        "name": name,
        "created": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "command": command,
        "suite": suite.to_dict(),
        "seeds": {"items": suite.seed, "bootstrap": suite.seed},
        "device": str(device),
        "environment": {
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "platform": platform.platform(terse=True),
            "threads": torch.get_num_threads(),
            **({"compiled": True} if compile_switch.enabled() else {}),  # SPIROGRAPH_COMPILE=1: fused kernels, equal to rounding
        },
        **space.spec.identity,
        "render": dict(suite.render_options()),
        "space": space.to_dict(),
        "encoder": {
            "name": name,
            "class": f"{type(encoder).__module__}.{type(encoder).__qualname__}",
            "feature_dim": feature_dim,
            "parameters": parameter_count(encoder),
        },
        "disclosures": disclosures,
        "tasks": list(chosen),
        "probes": ctx.probes,
        "timings": {
            "total_s": round(time.perf_counter() - started, 3),
            "render_s": round(source.render_seconds, 3),
            "encode_s": round(source.encode_seconds, 3),
            "images": source.images_encoded,
            "tasks": task_seconds,
        },
        "metrics": metrics,
    }
    return ScoreResult(data)
