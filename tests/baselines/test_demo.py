"""spirograph-demo runs end to end (tiny settings) and a re-run reuses every finished step."""

import dataclasses
import re

import pytest

from spirograph.harness.suites import Suite, available_suites, register_suite
from spirograph_baselines import demo

TINY = Suite(
    name="demo-test", version=1, seed=3, n_train=200, n_test=100, n_averaging_train=60, n_averaging_test=40,
    n_robustness_train=60, n_robustness_test=40, averaging_draws=(1, 10), label_fractions=(0.1, 1.0),
    knn_neighbours=(1, 3), bootstrap_resamples=100, batch_size=100, n_invariance_test=20, n_sensitivity=10,
    n_worst_case=10, worst_case_draws=2, worst_case_restarts=1, worst_case_steps=2, worst_case_step_size=1.0,
)


@pytest.fixture(scope="module", autouse=True)
def tiny_suite():
    if TINY.name not in available_suites():
        register_suite(TINY)
    if TINY.name not in available_suites(generator="sprites"):
        register_suite(dataclasses.replace(TINY, generator="sprites"))


ARGS = ["--suite", "demo-test", "--train", "32", "--test", "16",
        "--set", "epochs=2", "--set", "n_contents=64", "--set", "batch_size=32"]


def _step_lines(printed: str) -> list[str]:
    return [line for line in printed.splitlines() if re.match(r"step \d+/\d+: ", line)]


def test_demo_end_to_end_and_rerun(tmp_path, capsys):
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), *ARGS]) == 0
    printed = capsys.readouterr().out
    for name in ("data.h5", "samples.png", "leaderboard.md", "leaderboard.png", "leaderboard.html", "simclr/result.json",
                 "invclr/result.json", "simclr/curves.png", "invclr/curves.png"):
        assert (out / name).exists(), name
    board = (out / "leaderboard.md").read_text()
    for entry in ("simclr", "invclr", "oracle", "pixels", "random-convnet"):
        assert entry in board
    assert "leaderboard.png" in printed and "leaderboard.html" in printed
    assert printed.startswith("spirograph-demo: budget 'demo': training cpu-quick with epochs=4")
    assert "the README's results table comes from --budget full" in printed
    # One line per step: its number out of all, the time so far and an estimate of the time left.
    first = _step_lines(printed)
    assert len(first) == 9
    for k, line in enumerate(first, start=1):
        assert re.fullmatch(rf"step {k}/9: .+ \(elapsed \d+:\d\d, about \d+:\d\d left\)", line), line
    before = {p: p.stat().st_mtime_ns for p in out.rglob("result.json")}
    assert demo.main(["--out", str(out), *ARGS]) == 0
    printed = capsys.readouterr().out
    assert printed.count("reusing") == 7
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("result.json")}
    # The same titles on a re-run as on the first run.
    strip = lambda lines: [line.split(" (elapsed")[0] for line in lines]  # noqa: E731
    assert strip(_step_lines(printed)) == strip(first)


def test_demo_reports_bad_input_in_one_line(tmp_path, capsys):
    assert demo.main(["--out", str(tmp_path / "d"), "--suite", "quik", "--train", "8", "--test", "8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "quik" in err[0]


@pytest.mark.parametrize("argv,match", [(["--preset", "cpu-quik"], "cpu-quik"), (["--train", "0"], "--train=0"), (["--seed", "-1"], "--seed=-1"),
                                        (["--budget", "ful"], "unknown budget 'ful'; did you mean 'full'?"),
                                        (["--generator", "spirogrph"], "unknown generator 'spirogrph'; did you mean 'spirograph'?")])
def test_demo_rejects_bad_arguments_before_writing(tmp_path, capsys, argv, match):
    out = tmp_path / "d"
    assert demo.main(["--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]
    assert not out.exists()


def test_demo_of_a_generator_without_its_suite_is_refused_before_writing(tmp_path, capsys, toy):
    out = tmp_path / "d"
    assert demo.main(["--out", str(out), "--generator", "toy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown suite 'demo'" in err[0] and "generator 'toy'" in err[0]
    assert not out.exists()


def test_the_demo_of_sprites_runs_end_to_end(tmp_path, capsys):
    """Every step with --generator sprites: its split file, training views, suite and leaderboard group."""
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--generator", "sprites", *ARGS]) == 0
    printed = capsys.readouterr().out
    assert len(_step_lines(printed)) == 9
    board = (out / "leaderboard.md").read_text()
    assert "sprites" in board and all(entry in board for entry in ("simclr", "invclr", "oracle", "pixels", "random-convnet"))
    assert '"generator": "sprites"' in (out / "invclr" / "result.json").read_text()


def test_sprites_has_a_demo_suite():
    from spirograph.harness.suites import get_suite

    assert get_suite("demo", generator="sprites").generator == "sprites"
