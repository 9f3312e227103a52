"""Sprites' evaluation suites (registered when the harness first asks for the generator's suites).

The same sizes and worst-case budget as Spirograph's current ``quick``, ``standard`` and ``demo``
(their seeds differ, so the two generators never share items by accident); the robustness task
scores sprites' five shift families (``shifts.py``) and renders with the generator's default options.
Version 1 of ``quick`` and ``standard`` (release 0.3.0) searched the worst case with the budget
and neighbourhoods of Spirograph's version 3; version 2 with those of its version 4.
"""

from __future__ import annotations

from dataclasses import replace

from ...harness.suites import _WORST_CASE_BUDGET, _WORST_CASE_SEARCH, Suite, get_suite, register_suite

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


# Version 2: the worst-case curve up to ε = 0.25 with the budget at which it levels off (as Spirograph's quick 4);
# benchmarks/README.md shows it levelling off for a trained sprites encoder too. The same seeds: the same items.
for _name, _items in (("quick", 150), ("standard", 2000)):
    _previous = get_suite(_name, version=1, generator="sprites")
    _description = _previous.description.replace(f"{_previous.n_worst_case} for the worst-case curve", f"{_items} for the worst-case curve")
    register_suite(replace(_previous, version=2, **_WORST_CASE_SEARCH, n_worst_case=_items,
                           description=_description.replace("worst-case curve", "worst-case curve (ε <= 0.25)")))
register_suite(replace(get_suite("demo", generator="spirograph"), generator="sprites", version=1, seed=20261208))
