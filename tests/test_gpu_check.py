"""``benchmarks/gpu_check.py``: the dry run exercises every stage on the CPU, so a GPU run starts from working code."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gpu_check = _load()


def _run(*args, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check") / "report"
    done = _run("--out", out, "--dry-run")
    return out, done


def test_dry_run_records_every_stage_ok(dry_run):
    out, done = dry_run
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "gpu_report.json").read_text())
    assert report["format"] == gpu_check.FORMAT and report["dry_run"] is True
    stages = {s["name"]: s for s in report["stages"]}
    assert list(stages) == list(gpu_check.STAGES)
    assert {n: s["status"] for n, s in stages.items()} == {n: "ok" for n in gpu_check.STAGES}, {
        n: s.get("reason") or s.get("error") for n, s in stages.items()
    }

    assert stages["environment"]["data"]["torch"] == torch.__version__
    counts = stages["gpu_tests"]["data"]["counts"]
    assert counts["failed"] == counts["errors"] == 0 and counts["skipped"] > 0  # no CUDA here: they skip
    measured = stages["render"]["data"]["measurements"]
    assert set(measured) == {"forward", "forward_backward", "penalty_double_backward"}
    assert all(m["images_per_s"] > 0 and m["calls"] >= 1 for m in measured.values())
    measured = stages["sprites_render"]["data"]["measurements"]
    assert set(measured) == {f"{step} ({kind})" for step in ("forward", "penalty_double_backward") for kind in ("eager", "fused")}
    assert all(m["images_per_s"] > 0 and m["calls"] >= 1 for m in measured.values())
    throughput = stages["throughput"]["data"]
    assert throughput["scoring_images_per_s"] > 0
    for method in gpu_check.METHODS:
        m = throughput["methods"][method]
        assert m["projected_run_s"] == pytest.approx(m["epochs"] * m["steps_per_epoch"] * m["mean_step_s"])
        run = stages[f"epoch10_{method}"]["data"]
        assert run["training"]["steps"] == run["steps"] == gpu_check.DRY.compare_epochs * run["steps_per_epoch"]
        assert run["paper_mean_mse"] == gpu_check.PAPER_EPOCH10_MSE[method]
        assert run["linear"]["status"] == "ok" and 0 < run["linear"]["mean_mse"] < 10
        averaging = stages["epoch10_averaging"]["data"][method]
        assert averaging["M"] == gpu_check.DRY_SUITE.max_draws and [p["M"] for p in averaging["curve"]] == list(
            gpu_check.DRY_SUITE.averaging_draws
        )
        assert (out / run["linear"]["result"]).is_file() and (out / averaging["result"]).is_file()

    markdown = (out / "gpu_report.md").read_text()
    for heading in ("## Environment", "## Stages", "## gpu-marked tests", "## Renderer", "## Renderer (sprites)", "training throughput", "## Epoch-10 comparison"):
        assert heading in markdown
    assert "Dry run" in markdown and "0.00340" in markdown and "0.00253" in markdown


def test_existing_report_is_kept_without_overwrite(dry_run, capsys):
    out, _ = dry_run
    before = {name: (out / name).read_bytes() for name in ("gpu_report.json", "gpu_report.md")}
    assert gpu_check.main(["--out", str(out), "--dry-run", "--stages", "render"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--overwrite" in err
    assert {name: (out / name).read_bytes() for name in before} == before


def test_rerun_of_some_stages_carries_the_others_over_and_continues_the_run(dry_run):
    out, _ = dry_run
    done = _run("--out", out, "--dry-run", "--overwrite", "--stages", "render", "epoch10_simclr")
    assert done.returncode == 0, done.stderr[-3000:]
    stages = {s["name"]: s for s in json.loads((out / "gpu_report.json").read_text())["stages"]}
    assert all(s["status"] == "ok" for s in stages.values())
    assert {n for n, s in stages.items() if "carried_from" in s} == {
        "gpu_tests",
        "sprites_render",
        "throughput",
        "epoch10_invclr",
        "epoch10_averaging",
    }
    assert stages["epoch10_simclr"]["data"]["training"]["command"].endswith("--resume")  # the finished run is kept


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dry-run", "--budget-s", "0"], "--budget-s"),
        (["--dry-run", "--stages", "rendr"], "did you mean 'render'"),
        (["--dry-run", "--device", "tpu"], "--device"),
        (["--dry-run", "--seed", "-1"], "--seed"),
    ]
    + ([] if torch.cuda.is_available() else [([], "CUDA is not available")]),
)
def test_bad_arguments_are_one_line_errors_and_write_nothing(tmp_path, capsys, args, message):
    assert gpu_check.main(["--out", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_a_dry_report_is_not_mixed_with_a_full_one(dry_run, capsys):
    out, _ = dry_run
    assert gpu_check.main(["--out", str(out), "--overwrite", "--stages", "render"]) == 2  # without --dry-run
    assert "it holds a dry run" in capsys.readouterr().err


def test_stage_limit_caps_and_skips():
    assert gpu_check.stage_limit(100.0, 30.0, 10.0) == (30.0, None)
    assert gpu_check.stage_limit(100.0, None, 10.0) == (100.0, None)
    limit, reason = gpu_check.stage_limit(20.0, None, 50.0)
    assert limit is None and reason == "needs about 50 s; 20 s of the budget left"


def test_scoring_image_count_follows_the_suite():
    suite = gpu_check.DRY_SUITE
    assert gpu_check.scoring_images(suite, ["linear"]) == suite.n_train + suite.n_test
    assert gpu_check.scoring_images(suite, ["feature_averaging"]) == (suite.n_averaging_train + suite.n_averaging_test) * suite.max_draws


def test_parse_junit_counts_and_failures(tmp_path):
    xml = tmp_path / "j.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.a" name="test_ok"/>'
        '<testcase classname="tests.a" name="test_bad"><failure message="assert 1 == 2&#10;more">trace</failure></testcase>'
        '<testcase classname="tests.b" name="test_skip"><skipped message="needs a CUDA device"/></testcase>'
        '<testcase classname="" name="tests.c"><error message="collection failure">tests/c.py:8: in &lt;module&gt;&#10;E   ValueError: bad suite&#10;E   more</error></testcase>'
        "</testsuite></testsuites>"
    )
    parsed = gpu_check.parse_junit(xml)
    assert parsed["counts"] == {"passed": 1, "failed": 1, "errors": 1, "skipped": 1}
    assert parsed["failures"][0] == {"test": "tests.a::test_bad", "kind": "failure", "message": "assert 1 == 2"}
    assert parsed["failures"][1] == {"test": "tests.c", "kind": "error", "message": "ValueError: bad suite"}


def test_markdown_shows_partial_skipped_and_failed_stages():
    stages = [
        {"name": "environment", "status": "ok", "seconds": 0.1, "data": {"gpu": "a GPU", "torch": "2.x"}},
        {"name": "gpu_tests", "status": "timed_out", "reason": "pytest did not finish in 150 s", "data": {"exit_code": None}},
        {
            "name": "render",
            "status": "failed",
            "reason": "failed: forward",
            "data": {
                "batch": 65536,
                "dtype": "float32",
                "resolution": 32,
                "measurements": {"forward": {"error": "OutOfMemoryError: CUDA out of memory"}},
            },
        },
        {"name": "throughput", "status": "skipped", "reason": "not selected (--stages)"},
        {
            "name": "epoch10_simclr",
            "status": "partial",
            "reason": "linear: needs about 90 s; 20 s left",
            "data": {
                "steps": 1960,
                "paper_mean_mse": 0.0034,
                "training": {"steps": 1960, "seconds": 300.0},
                "linear": {"status": "skipped", "reason": "needs about 90 s; 20 s left"},
            },
        },
        {
            "name": "epoch10_invclr",
            "status": "timed_out",
            "reason": "training stopped at the limit after 700 of 1960 steps",
            "data": {"steps": 1960, "paper_mean_mse": 0.00253, "training": {"steps": 700, "seconds": 200.0}},
        },
        {
            "name": "epoch10_averaging",
            "status": "skipped",
            "reason": "needs about 130 s; 3 s of the budget left",
            "carried_from": "2026-01-01T00:00:00+00:00",
        },
    ]
    text = gpu_check.render_markdown(
        {"dry_run": False, "command": "c", "started": "s", "updated": "u", "elapsed_s": 1.0, "budget_s": 720.0, "stages": stages}
    )
    assert "| render | failed |" in text and "failed: OutOfMemoryError" in text
    assert "| simclr | 1,960 of 1,960 | skipped | 0.00340 |" in text
    assert "| invclr | 700 of 1,960 | – | 0.00253 |" in text
    assert "carried over from the report started 2026-01-01" in text
    assert "Dry run" not in text and "## gpu-marked tests" not in text
