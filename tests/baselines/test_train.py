"""``spirograph-train`` end to end on a tiny configuration: bad input, run directories, resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from spirograph_baselines import train
from spirograph_baselines.checkpoint import RunDir
from spirograph_baselines.loop import Trainer
from spirograph_baselines.methods.simclr import SimCLR

TINY = [
    "--preset", "cpu-quick", "--suite", "none", "--no-progress", "--threads", "1",
    "--set", 'encoder_kwargs={"widths": [8], "norm": "none"}',
    "--set", "n_contents=48", "--set", "batch_size=16", "--set", "epochs=2", "--set", "warmup_epochs=0",
    "--set", "resolution=16", "--set", "checkpoint_every=2", "--set", "log_every=1",
]
INVCLR = ["--method", "invclr", "--set", "n_prior=4", "--set", "lam=0.1", "--set", "penalty_items=0"]


def run(tmp_path, *extra, name="run"):
    return train.main(["--out", str(tmp_path / name), *TINY, *extra])


def error_line(capsys):
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method", "simclrr"], "unknown method 'simclrr'; did you mean 'simclr'?"),
        (["--method", "simclr", "--preset", "cpu-quik"], "unknown preset 'cpu-quik'; did you mean 'cpu-quick'?"),
        (INVCLR + ["--set", "lam=-1"], "lam=-1: expected a finite number >= 0"),
        (["--method", "simclr", "--set", "temperature=0"], "temperature=0: expected a finite number > 0"),
        (["--method", "simclr", "--set", "batch_size=1"], "batch_size=1: expected an integer >= 2"),
        (["--method", "simclr", "--set", "lamb=0.1"], "unknown setting 'lamb'"),
        (["--method", "simclr", "--set", "novalue"], "--set='novalue': expected KEY=VALUE"),
        (["--method", "simclr", "--resume", "--overwrite"], "at most one of them"),
        (["--method", "simclr", "--device", "gpu0"], "--device='gpu0'"),
        (["--method", "simclr", "--suite", "quik"], "unknown suite 'quik'; did you mean 'quick'?"),
        (["--method", "simclr", "--set", "resolution=100000"], "resolution=100000: expected an integer in [2, 4096]"),
        (["--method", "simclr", "--set", f"n_contents={10**30}"], f"n_contents={10**30}: expected an integer in [2, 2**63 - 1]"),
        (["--method", "simclr", "--seed", str(2**64)], f"--seed={2**64}: expected an integer in [0, 2**63 - 1]"),
        # Refused by the method when the run is built, after its config was written: the directory is taken back.
        (["--method", "invprop", "--set", "background_size=100"], "background_size=100: expected at most the number of training items (48)"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, extra, message):
    assert run(tmp_path, *extra) == 2
    assert message in error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_run_writes_config_metrics_checkpoint_and_encoder(tmp_path):
    assert run(tmp_path, *INVCLR) == 0
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.json", "checkpoint.pt", "metrics.jsonl", "encoder.pt", "curves.png"} <= files
    assert (tmp_path / "run" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # drawn at the end of every run
    lines = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines] == list(range(1, 7))
    assert {"loss", "nt_xent", "penalty", "lam", "lr", "pairs_per_s"} <= set(lines[0])
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]


def test_existing_run_directory_is_protected(tmp_path, capsys):
    assert run(tmp_path, "--method", "simclr") == 0
    assert run(tmp_path, "--method", "simclr", "--set", "temperature=0.2") == 2
    err = error_line(capsys)
    assert "different config" in err and "temperature: 0.5 -> 0.2" in err
    assert run(tmp_path, "--method", "simclr") == 2
    assert "--resume" in error_line(capsys)
    assert run(tmp_path, "--method", "simclr", "--set", "temperature=0.2", "--resume") == 2
    assert "differs in" in error_line(capsys)
    assert run(tmp_path, "--method", "simclr", "--set", "temperature=0.2", "--overwrite") == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["method_config"]["temperature"] == 0.2


def test_corrupted_checkpoint_is_refused(tmp_path, capsys):
    assert run(tmp_path, "--method", "simclr") == 0
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert run(tmp_path, "--method", "simclr", "--resume") == 2
    assert "corrupted" in error_line(capsys)


def test_same_seed_runs_write_identical_bytes(tmp_path):
    assert run(tmp_path, *INVCLR, name="a") == 0
    assert run(tmp_path, *INVCLR, name="b") == 0
    for name in ("encoder.pt", "checkpoint.pt", "config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.fixture
def umask():
    """Set the process umask for one test: ``umask(0o022)``; restored afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600)], ids=["022", "077"])
def test_run_files_get_the_mode_the_umask_gives(tmp_path, umask, mask, mode):
    umask(mask)
    assert run(tmp_path, "--method", "simclr") == 0
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "run").iterdir()}
    assert {"config.json", "checkpoint.pt", "encoder.pt", "metrics.jsonl"} <= set(modes)
    assert modes == dict.fromkeys(modes, mode)


def test_damaged_checkpoint_tensor_is_refused(tmp_path, capsys, flip_inside_tensor):
    assert run(tmp_path, "--method", "simclr") == 0
    member = flip_inside_tensor(tmp_path / "run" / "checkpoint.pt")
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    assert run(tmp_path, "--method", "simclr", "--resume") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checkpoint=" in err and f"it is corrupted (member {member!r} does not match its CRC-32" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


def _state(path):
    return torch.load(path / "checkpoint.pt", weights_only=True)


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path, monkeypatch):
    assert run(tmp_path, *INVCLR, name="straight") == 0
    original = Trainer.train_step

    def interrupted(self):
        if self.step == 3:  # after the checkpoint of step 2, before finishing step 4
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Trainer, "train_step", interrupted)
    assert run(tmp_path, *INVCLR, name="resumed") == 130
    assert _state(tmp_path / "resumed")["step"] == 2
    monkeypatch.setattr(Trainer, "train_step", original)
    assert run(tmp_path, *INVCLR, "--resume", name="resumed") == 0
    assert (tmp_path / "resumed" / "curves.png").is_file()  # a resumed run draws its whole log too
    a, b = _state(tmp_path / "straight"), _state(tmp_path / "resumed")
    assert a["step"] == b["step"] == 6
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key in ("views", "method"):
        assert torch.equal(a["generators"][0][key], b["generators"][0][key])
    losses = [[json.loads(l)["loss"] for l in (tmp_path / d / "metrics.jsonl").read_text().splitlines()] for d in ("straight", "resumed")]
    assert losses[0] == losses[1]


def _metrics(path):
    """metrics.jsonl without the wall-clock throughput."""
    lines = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if k != "pairs_per_s"} for line in lines]


def test_resume_between_log_lines_logs_the_same_window_means(tmp_path, monkeypatch):
    window = ["--set", "log_every=4"]  # lines at steps 4 and 6; checkpoints at 2, 4, 6
    assert run(tmp_path, *INVCLR, *window, name="straight") == 0
    original = Trainer.train_step

    def interrupted(self):
        if self.step == 3:  # the checkpoint of step 2 holds half of the first log window
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Trainer, "train_step", interrupted)
    assert run(tmp_path, *INVCLR, *window, name="resumed") == 130
    monkeypatch.setattr(Trainer, "train_step", original)
    assert run(tmp_path, *INVCLR, *window, "--resume", name="resumed") == 0
    straight = _metrics(tmp_path / "straight")
    assert [line["step"] for line in straight] == [4, 6]
    assert _metrics(tmp_path / "resumed") == straight


_PAUSED_RUN = """
import pathlib, sys, time
from spirograph_baselines import train
from spirograph_baselines.loop import Trainer

ready, go = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
original = Trainer.train_step

def paused(self):
    if self.step == 3:  # hold the run mid-way so a second process can try the same directory
        ready.touch()
        while not go.exists():
            time.sleep(0.02)
    return original(self)

Trainer.train_step = paused
sys.exit(train.main(sys.argv[3:]))
"""


def _wait_for(path, process):
    for _ in range(6000):
        if path.exists():
            return
        if process.poll() is not None:
            pytest.fail(f"the first run ended early: {process.communicate()[1]}")
        time.sleep(0.05)
    pytest.fail("the first run never reached step 3")


def test_a_second_training_in_a_live_run_directory_is_refused(tmp_path, capsys):
    ready, go = tmp_path / "ready", tmp_path / "go"
    args = ["--out", str(tmp_path / "run"), *TINY, *INVCLR]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    first = subprocess.Popen([sys.executable, "-c", _PAUSED_RUN, str(ready), str(go), *args], env=env, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(ready, first)
        before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
        for extra in (["--resume"], [], ["--overwrite"]):
            assert run(tmp_path, *INVCLR, *extra) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and f"is being written by process {first.pid}" in err, err
            assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before
        go.touch()
        assert first.wait(timeout=600) == 0, first.communicate()[1]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert [line["step"] for line in _metrics(tmp_path / "run")] == list(range(1, 7))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["go", "ready", "run"]  # the lock went with the run
    assert run(tmp_path, *INVCLR, "--overwrite") == 0  # free again


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    original = SimCLR.training_step

    def poisoned(self, ctx):
        out = original(self, ctx)
        if ctx.step == 3:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(SimCLR, "training_step", poisoned)
    assert run(tmp_path, "--method", "simclr") == 1
    err = error_line(capsys)
    assert "non-finite loss at step 3" in err and "last good checkpoint" in err
    state = RunDir(tmp_path / "run").load_checkpoint()
    assert state["step"] == 2 and all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_disclosures_are_accepted_by_the_harness():
    from spirograph.harness.score import _check_disclosures
    from spirograph_baselines.encoders import ConvNet
    from spirograph_baselines.loop import flatten
    from spirograph_baselines.methods import build_method

    method = build_method("invclr", ConvNet((4,)), {}, n_items=8)
    flat = flatten({**method.disclosures(), "training": {"train": {"encoder_kwargs": {"widths": [4]}}}})
    assert flat["uses_nuisance_labels"] is True and flat["config.lam"] == 0.01
    assert flat["training.train.encoder_kwargs.widths"] == "[4]"
    assert _check_disclosures(flat) == flat


@pytest.mark.slow
def test_end_of_run_score_writes_result_json(tmp_path, umask):
    from spirograph.harness.result import ScoreResult

    umask(0o022)
    args = [a if a != "none" else "quick" for a in TINY]
    args[args.index("resolution=16")] = "resolution=32"
    assert train.main(["--out", str(tmp_path / "run"), *args, "--method", "simclr"]) == 0
    result = ScoreResult.load(tmp_path / "run" / "result.json")
    assert result.metric("linear.mean_mse") > 0
    assert result.to_dict()["disclosures"]["method"] == "simclr"
    assert (tmp_path / "run" / "result.json").stat().st_mode & 0o777 == 0o644


# Holds a run at one moment (printing its name) until a signal comes: step N, or curves.png written.
_HELD_RUN = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # a background parent may start us with it ignored
import spirograph._io as io
from spirograph_baselines import train
from spirograph_baselines.loop import Trainer

moment = sys.argv.pop(1)

def hold():
    print(moment, flush=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.01)

original = Trainer.train_step
def step(self):
    if moment == f"step {self.step}":
        hold()
    return original(self)
Trainer.train_step = step

fsync = io.fsync_file
def fsynced(path):
    fsync(path)
    if moment == "curves" and ".curves.png." in str(path):
        hold()  # the temporary curves.png is complete, not yet moved into place
io.fsync_file = fsynced
sys.exit(train.main(sys.argv[1:]))
"""


def _held(tmp_path, moment, sig, *extra):
    args = ["--out", str(tmp_path / "run"), *TINY, *INVCLR, *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    child = subprocess.Popen(
        [sys.executable, "-c", _HELD_RUN, moment, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        line = child.stdout.readline().strip()
        assert line == moment, child.communicate()[1] if child.poll() is not None else line
        os.killpg(child.pid, sig)
        _, err = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_before_the_first_checkpoint_is_one_line_and_resumable(tmp_path, capsys, sig):
    code, err = _held(tmp_path, "step 1", sig)
    assert code == 130 and err == (
        "spirograph-train: interrupted at step 1 of 6, before the first checkpoint: rerun with --resume to start again from step 0\n"
    )
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json", "metrics.jsonl"]
    assert run(tmp_path, *INVCLR, "--resume") == 0  # from step 0
    assert "has no checkpoint yet; starting from step 0" in capsys.readouterr().err
    assert [line["step"] for line in _metrics(tmp_path / "run")] == list(range(1, 7))


def test_a_run_stopped_before_its_first_checkpoint_restarts_without_overwrite(tmp_path, monkeypatch, capsys):
    original = Trainer.train_step

    def interrupted(self):
        if self.step == 1:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Trainer, "train_step", interrupted)
    assert run(tmp_path, *INVCLR) == 130
    monkeypatch.setattr(Trainer, "train_step", original)
    assert run(tmp_path, *INVCLR) == 0
    assert [line["step"] for line in _metrics(tmp_path / "run")] == list(range(1, 7))
    assert run(tmp_path, *INVCLR) == 2  # a run with a checkpoint is still protected
    assert "pass --resume to continue it or --overwrite to replace it" in error_line(capsys)


def test_an_interrupt_after_a_checkpoint_names_it(tmp_path):
    code, err = _held(tmp_path, "step 3", signal.SIGINT)
    assert code == 130 and err == (
        f"spirograph-train: interrupted at step 3 of 6; the last good checkpoint {tmp_path / 'run' / 'checkpoint.pt'} (step 2) "
        "is kept: rerun with --resume to continue\n"
    )


def test_sigterm_while_curves_png_is_written_leaves_no_temporary_file(tmp_path):
    code, err = _held(tmp_path, "curves", signal.SIGTERM)
    assert code == 130 and err.count("\n") == 1 and "interrupted after training finished" in err, err
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"checkpoint.pt", "encoder.pt"} <= names and "curves.png" not in names
    assert not [n for n in names if n.startswith(".")]  # the temporary curves.png is gone
    assert run(tmp_path, *INVCLR, "--resume") == 0 and (tmp_path / "run" / "curves.png").is_file()


def test_a_full_disk_is_one_line_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    import builtins
    import errno

    import spirograph._torchfile as torchfile

    saves = []

    class Full:
        """A file on a disk that fills up after 1000 bytes."""

        def __init__(self, handle):
            self.handle, self.written = handle, 0

        def write(self, data):
            self.written += len(data)
            if self.written > 1000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.handle.write(data)

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

    def filling(path, mode="r", *args, **kwargs):
        handle = builtins.open(path, mode, *args, **kwargs)
        saves.append(path)
        return Full(handle) if len(saves) == 2 else handle  # the second checkpoint finds the disk full

    monkeypatch.setattr(torchfile, "open", filling, raising=False)
    assert run(tmp_path, *INVCLR) == 1
    err = capsys.readouterr().err
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    assert err == (
        f"spirograph-train: training stopped: the disk is full; the last good checkpoint {checkpoint} (step 2) is kept: "
        "free some space and rerun with --resume\n"
    )
    assert RunDir(tmp_path / "run").load_checkpoint()["step"] == 2  # intact, and the one the message names
    assert not any(p.name.startswith(".") for p in (tmp_path / "run").iterdir())  # no temporary left
    monkeypatch.undo()  # space freed
    assert run(tmp_path, *INVCLR, "--resume") == 0 and _state(tmp_path / "run")["step"] == 6


def test_a_lock_file_symlink_is_refused_and_its_target_kept(tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "run.lock").symlink_to(victim)
    assert run(tmp_path, *INVCLR) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"lock file '{tmp_path / 'run.lock'}' is not a regular file" in err
    assert victim.read_text() == "precious" and not (tmp_path / "run").exists()


def test_a_finished_run_ends_with_one_closing_line(tmp_path, capsys):
    assert run(tmp_path, *INVCLR) == 0
    out = capsys.readouterr().out.strip().splitlines()
    folder = tmp_path / "run"
    assert out[-1] == (
        f"spirograph-train: trained invclr for 6 steps; curves.png {folder / 'curves.png'}, encoder.pt {folder / 'encoder.pt'}, "
        f"checkpoint.pt {folder / 'checkpoint.pt'}"
    )


def test_the_closing_line_gives_the_score(tmp_path, monkeypatch, capsys):
    import types

    scores = {"linear.mean_r2": 0.8766, "linear.mean_mse": 0.0123}
    monkeypatch.setattr(Trainer, "score", lambda self, suite, **kw: types.SimpleNamespace(metric=scores.__getitem__))
    args = [a if a != "none" else "quick" for a in TINY]
    args[args.index("resolution=16")] = "resolution=32"
    assert train.main(["--out", str(tmp_path / "run"), *args, *INVCLR]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"; quick suite: linear mean R² 0.877, mean MSE 0.0123 ({tmp_path / 'run' / 'result.json'}); curves.png" in line
