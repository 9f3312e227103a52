"""Every Python snippet of README.md runs as written (in a scratch folder, at a small size)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from spirograph.cli import main as spirograph_main
from spirograph.harness.suites import get_suite, register_suite

README = Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_readme_has_python_snippets():
    assert len(SNIPPETS) >= 4


@pytest.fixture
def small_quick_suite():
    """The snippets score on "quick": for this test it names a tiny suite (the real one is restored)."""
    quick = get_suite("quick")
    sizes = dict(n_train=200, n_test=100, n_averaging_train=60, n_averaging_test=40, n_robustness_train=60,
                 n_robustness_test=40, n_invariance_test=20, n_sensitivity=10, n_worst_case=10, bootstrap_resamples=100,
                 averaging_draws=(1, 10), label_fractions=(0.1, 1.0), knn_neighbours=(1, 3), worst_case_draws=2, worst_case_restarts=1,
                 worst_case_steps=2, worst_case_step_size=1.0)
    known = {f.name for f in dataclasses.fields(quick)}
    register_suite(dataclasses.replace(quick, **{k: v for k, v in sizes.items() if k in known}), overwrite=True)
    yield
    register_suite(quick, overwrite=True)


@pytest.mark.parametrize("index", range(len(SNIPPETS)), ids=[f"snippet{i + 1}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(index, tmp_path, monkeypatch, small_quick_suite):
    monkeypatch.chdir(tmp_path)
    code = SNIPPETS[index]
    if "data.h5" in code:
        # The split file the README's command examples make (`spirograph generate data.h5 ...`), smaller.
        assert spirograph_main(["generate", "data.h5", "--train", "64", "--test", "32", "--seed", "0"]) == 0
    exec(compile(code, f"README.md python snippet {index + 1}", "exec"), {"__name__": f"readme_snippet_{index + 1}"})


def test_viz_is_reachable_after_import_spirograph():
    # A fresh interpreter: in this one another test may already have imported spirograph.viz.
    import subprocess
    import sys

    code = "import sys, spirograph; assert 'spirograph.viz' not in sys.modules; print(spirograph.viz.sample_grid.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "sample_grid"
