"""How much work a suite asks of an encoder, and the time that makes at a measured speed.

``spirograph score`` measures the encoder on one batch right after its contract check and prints
the estimate, so that a slow encoder (a ResNet-18 on 2 CPU cores needs about an hour for
``quick``) says so before the hour starts. The work is counted in forward passes of one image
through renderer and encoder; a pass that also propagates derivatives (a Jacobian–vector product
of the sensitivity task, a gradient step of the worst case) counts as ``GRADIENT_PASS`` of them.
Probes, bootstraps and eigen-decompositions are not counted: for small encoders they add a few
tens of seconds.
"""

from __future__ import annotations

from typing import Sequence

from .suites import ROBUSTNESS_FAMILIES, Suite

GRADIENT_PASS = 3.0
"""Cost of a forward pass with derivatives (forward-mode product, or forward and backward) in plain forward passes."""


def suite_passes(suite: Suite, tasks: Sequence[str], n_factors: int = 10) -> float:
    """Image passes (forward-pass equivalents) that scoring ``tasks`` on ``suite`` takes.

    Follows what the tasks render: single-draw features are shared, feature averaging and the
    invariance statistics share the test draws, and robustness renders every shifted level anew.
    """
    passes = 0.0
    if {"linear", "feature_averaging", "robustness", "invariance", "label_efficiency", "nonlinear", "worst_case"} & set(tasks):
        passes += suite.n_train + suite.n_test
    if "feature_averaging" in tasks:
        passes += (suite.max_draws - 1) * (suite.n_averaging_train + suite.n_averaging_test)
    elif "invariance" in tasks:
        passes += (suite.max_draws - 1) * suite.n_averaging_test
    if "robustness" in tasks:
        shifted = sum(1 for spec in ROBUSTNESS_FAMILIES.values() for level in spec["levels"] if level != 0.0)
        passes += shifted * (suite.n_robustness_train + suite.n_robustness_test)
    if "sensitivity" in tasks:
        passes += suite.n_sensitivity * n_factors * GRADIENT_PASS
    if "worst_case" in tasks:
        per_epsilon = (suite.worst_case_draws + 2 + 1 + suite.worst_case_restarts
                       * (suite.worst_case_steps * GRADIENT_PASS + (1 if suite.worst_case_steps else 0)))
        passes += suite.n_worst_case * (1 + len(suite.worst_case_epsilons) * per_epsilon)
    return passes


def format_estimate(seconds: float) -> str:
    """``"about 40 s"``, ``"about 12 min"`` or ``"about 1.5 h"``."""
    if seconds < 90:
        return f"about {seconds:.0f} s"
    if seconds < 90 * 60:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"
