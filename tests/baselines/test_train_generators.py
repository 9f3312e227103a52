"""``spirograph-train --generator``: views of any registered generator; run records name it and old ones read as Spirograph."""

import json

import pytest
from test_train import INVCLR, TINY

from spirograph import generators
from spirograph_baselines import train
from spirograph_baselines.checkpoint import RunDir
from spirograph_baselines.config import TrainConfig

TWO_STEPS = ["--set", "max_steps=2"]


def run(tmp_path, *extra, name="run"):
    return train.main(["--out", str(tmp_path / name), *TINY, *TWO_STEPS, *extra])


def _record(tmp_path, name="run"):
    return json.loads((tmp_path / name / "config.json").read_text())


@pytest.mark.parametrize("generator", [*generators.list(), "toy"])
def test_two_invclr_steps_on_every_generator(tmp_path, toy, generator):
    """Part of the generator contract (tests/spirograph/generators/test_contract.py): the penalty differentiates twice through it."""
    spec = generators.get(generator)
    resolution = 16 if spec.check_space is None else spec.options["resolution"]  # some generators refuse tiny canvases
    assert run(tmp_path, *INVCLR, "--generator", generator, "--set", f"resolution={resolution}") == 0
    assert _record(tmp_path)["train"]["generator"] == generator
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2]
    assert all(line["penalty"] >= 0 and line["loss"] == line["loss"] for line in lines)


def test_resuming_with_another_generator_is_refused_in_one_line(tmp_path, capsys, toy):
    assert run(tmp_path, "--method", "simclr") == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    assert run(tmp_path, "--method", "simclr", "--generator", "toy", "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "differs in" in err and "train.generator" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


def test_a_run_record_without_generator_resumes_as_spirograph(tmp_path):
    assert run(tmp_path, "--method", "simclr") == 0
    path = tmp_path / "run" / "config.json"
    record = json.loads(path.read_text())
    del record["train"]["generator"], record["train"]["render"]  # as 0.2 wrote it
    path.write_text(json.dumps(record))
    assert RunDir(tmp_path / "run").read_config()["train"]["generator"] == "spirograph"
    assert run(tmp_path, "--method", "simclr", "--resume") == 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--generator", "spirogrph"], "unknown generator 'spirogrph'; did you mean 'spirograph'?"),
        (["--generator", "toy", "--set", "normalize=image"], "normalize='image': expected 'row' (Spirograph's option) for generator 'toy'"),
        (["--generator", "toy", "--set", 'render={"n_points": 3}'], "unknown render option 'n_points' available in generator 'toy'"),
        (["--generator", "toy", "--suite", "quick"], "unknown suite 'quick' available in generator 'toy': none"),
        (["--generator", "toy", "--set", "generator=spirograph"], "--generator='toy': expected the generator of --set generator=spirograph"),
    ],
)
def test_bad_generator_input_exits_2_with_one_line(tmp_path, capsys, toy, extra, message):
    assert run(tmp_path, "--method", "simclr", *extra) == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1].replace("; available", " available")  # either wording
    assert not (tmp_path / "run").exists()


def test_train_config_validates_render_options_through_the_generator():
    assert TrainConfig(resolution=16).validate().render_options() == {"resolution": 16, "n_points": 40, "extent": 6.0, "normalize": "row"}
    with pytest.raises(ValueError, match=r"^resolution=1: expected an integer in \[2, 4096\]$"):
        TrainConfig(resolution=1).validate()
