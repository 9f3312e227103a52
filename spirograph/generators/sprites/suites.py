"""Sprites' evaluation suites (registered when the harness first asks for the generator's suites).

The same sizes and worst-case budget as Spirograph's current ``quick`` and ``standard`` (their
seeds differ, so the two generators never share items by accident); the robustness task scores
sprites' five shift families (``shifts.py``) and renders with the generator's default options.
"""

from __future__ import annotations

from ...harness.suites import _WORST_CASE_BUDGET, Suite, register_suite

register_suite(
    Suite(
        name="quick",
        version=1,
        seed=20261206,
        n_train=5000,
        n_test=2000,
        n_averaging_train=5000,
        n_averaging_test=2000,
        n_robustness_train=2000,
        n_robustness_test=1000,
        n_invariance_test=500,
        n_sensitivity=500,
        n_worst_case=250,
        **_WORST_CASE_BUDGET,
        generator="sprites",
        description="minutes on 2 CPU cores: 5k/2k contents (also for averaging, M<=30), 2k/1k per shift level of the "
        "five families, 500 for invariance and sensitivity, 250 for the worst-case curve",
        result_schema=3,
    )
)
register_suite(
    Suite(
        name="standard",
        version=1,
        seed=20261207,
        n_train=100_000,
        n_test=20_000,
        n_averaging_train=100_000,
        n_averaging_test=20_000,
        n_robustness_train=100_000,
        n_robustness_test=20_000,
        n_invariance_test=2000,
        n_sensitivity=2000,
        n_worst_case=2000,
        **_WORST_CASE_BUDGET,
        batch_size=1000,
        generator="sprites",
        description="100k/20k contents everywhere (a GPU job)",
        result_schema=3,
    )
)
