"""A fault-injection campaign: random faults against split files, result files and the commands' outputs.

    python tests/fault_injection.py [--trials 20] [--seed 0] [--workdir DIR]

Not collected by pytest (a campaign of random trials, minutes of CPU); each hole it has found has
its own deterministic test. Every trial draws one fault from a seeded generator and checks one
promise of the README's "Reliability: what survives what":

- ``kill``: ``spirograph generate`` killed (SIGINT, SIGTERM or SIGKILL) after a random delay within
  the length of an uninterrupted run (timed first, so the kills land from startup to publishing), with
  1 or 2 workers, then ``--resume``: the finished file must verify and hold exactly the datasets of
  an uninterrupted run (nothing lost).
- ``attribute``: one attribute of a finished file (the root or a split group) changed, deleted or
  added at random: ``verify`` must fail and ``info`` must refuse the file in one line (nothing let
  in); for a checksum or progress attribute, which ``info`` does not show, ``verify`` must fail.
- ``byte``: one element of a random dataset of a finished file changed: ``verify`` must fail.
- ``result``: one derived figure of a shipped result file changed, or one field of its suite
  record: ``leaderboard`` must refuse it or show it apart from the registered suite.
- ``symlink``: the lock file of ``generate`` (or a run directory's) a symlink to a victim file:
  refused in one line, the victim unchanged.

Prints one line per trial and a summary; exits 1 if anything was lost or let in.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GENERATE = ["--train", "3000", "--test", "1000", "--seed", "5", "--chunk-size", "250", "--shifts", "bg_mean", "--quiet"]
CHECKSUMS = ("checksum_images", "checksum_content", "checksum_nuisance")
MUTABLE = {*CHECKSUMS, "n_done", "complete"}
"""Attributes the writer updates as it goes (not in the metadata digest): verify checks them against the data."""


def cli(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spirograph.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def checksums(path: Path) -> dict[str, tuple[str, ...]]:
    with h5py.File(path, "r") as f:
        return {name: tuple(str(f[name].attrs[k]) for k in CHECKSUMS) for name in json.loads(f.attrs["splits"])}


def one_line(text: str) -> bool:
    return text.strip().count("\n") == 0 and bool(text.strip())


class Campaign:
    def __init__(self, workdir: Path, rng: random.Random) -> None:
        self.dir, self.rng = workdir, rng
        self.reference = workdir / "reference.h5"
        started = time.perf_counter()
        done = cli("generate", self.reference, *GENERATE)
        self.duration = time.perf_counter() - started  # kills are drawn within a run's length, startup included
        assert done.returncode == 0, done.stderr
        self.expected = checksums(self.reference)

    # -- nothing lost ------------------------------------------------------------------------------
    def kill(self, k: int) -> tuple[bool, str]:
        out = self.dir / f"kill{k}.h5"
        sig = self.rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
        delay = self.rng.uniform(0.05, 0.95) * self.duration
        workers = self.rng.choice([1, 2])
        argv = [sys.executable, "-m", "spirograph.cli", "generate", str(out), *GENERATE, "--workers", str(workers)]
        child = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        child.send_signal(sig)
        _, err = child.communicate(timeout=120)
        what = f"{sig.name} after {delay:.1f} s, {workers} worker(s): exit {child.returncode}"
        partial = Path(str(out) + ".partial")
        if child.returncode in (-signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL) and not out.exists() and not partial.exists():
            # The signal came while Python was still importing (before the command installs its handlers):
            # nothing was written; a SIGINT then prints Python's own traceback (README, "Reliability").
            return True, what + "; interrupted while starting, nothing written"
        if child.returncode in (-signal.SIGINT, -signal.SIGTERM) and out.exists() and not err.strip():
            # The signal came after the file was published, while Python was exiting: the file must be whole.
            whole = cli("verify", out).returncode == 0 and checksums(out) == self.expected
            out.unlink()
            return whole, what + ("; arrived while exiting, the published file is whole" if whole else "; the published file is damaged")
        if sig != signal.SIGKILL and child.returncode not in (0, 130) or (child.returncode == 130 and not one_line(err)):
            return False, f"{what}; stderr {err.strip()[:200]!r}"

        if not out.exists():
            resumed = cli("generate", out, *GENERATE, "--workers", str(workers), "--resume")
            if resumed.returncode != 0:
                return False, f"{what}; --resume failed: {resumed.stderr.strip()[:200]}"
        report = cli("verify", out)
        if report.returncode != 0:
            return False, f"{what}; verify: {report.stderr.strip()[:200]}"
        same = checksums(out) == self.expected
        out.unlink()
        return same, what + ("; resumed to identical datasets" if same else "; datasets differ from an uninterrupted run")

    # -- nothing let in ----------------------------------------------------------------------------
    def attribute(self, k: int) -> tuple[bool, str]:
        path = self.dir / f"attr{k}.h5"
        shutil.copy(self.reference, path)
        with h5py.File(path, "r+") as f:
            groups = ["/", *json.loads(f.attrs["splits"])]
            group = f[self.rng.choice(groups)]
            keys = sorted(group.attrs)
            key = self.rng.choice(keys)
            action = self.rng.choice(["change", "delete", "add"])
            if action == "delete":
                del group.attrs[key]
            elif action == "add":
                key = self.rng.choice(["shift_family", "shift_level", "comment", "seed", "split"]) + ("" if self.rng.random() < 0.5 else "_x")
                if key in group.attrs:
                    action = "change"
                else:
                    group.attrs[key] = "bg_mean" if "family" in key else 0.3
            if action == "change":
                group.attrs[key] = self._changed(group.attrs[key])
            where = f"{action} {group.name}@{key}"
        report = cli("verify", path)
        info = cli("info", path)
        if key in MUTABLE:
            # Checksums and progress are checked against the data by verify; info shows none of them.
            caught = report.returncode == 1
            path.unlink()
            return caught, where + ("; verify fails (info shows no checksum)" if caught else f"; verify exit {report.returncode}")
        caught = report.returncode == 1 and info.returncode != 0 and one_line(info.stderr)
        path.unlink()
        return caught, where + ("; verify fails, info refuses in one line" if caught else
                                f"; verify exit {report.returncode}, info exit {info.returncode}: {info.stderr.strip()[:200]!r}")

    def _changed(self, value):
        if isinstance(value, (bytes, str)):
            text = value.decode() if isinstance(value, bytes) else value
            try:
                data = json.loads(text)
            except ValueError:
                return text + "x"
            return json.dumps(self._perturb(data))
        if isinstance(value, np.ndarray):
            changed = value.copy()
            if changed.size:
                flat = changed.reshape(-1)
                flat[self.rng.randrange(flat.size)] = flat[0] if flat.size > 1 and flat[0] != flat[-1] else (flat[-1] + 1 if flat.dtype.kind in "iuf" else flat[-1])
            return changed if not np.array_equal(changed, value) else np.append(value, value[:1])
        if isinstance(value, (bool, np.bool_)):
            return not value
        if isinstance(value, (int, np.integer)):
            return int(value) + self.rng.choice([-1, 1])
        if isinstance(value, (float, np.floating)):
            return float(value) + self.rng.choice([-0.1, 0.1])
        return str(value) + "x"

    def _perturb(self, data):
        if isinstance(data, dict) and data:
            key = self.rng.choice(sorted(data))
            return {**data, key: self._perturb(data[key])}
        if isinstance(data, list) and data:
            i = self.rng.randrange(len(data))
            if self.rng.random() < 0.3 and len(data) > 1:
                return data[::-1] if data[::-1] != data else data + data[:1]
            return data[:i] + [self._perturb(data[i])] + data[i + 1:]
        if isinstance(data, bool):
            return not data
        if isinstance(data, (int, float)):
            return data + self.rng.choice([-0.5, 0.5, 1])
        if isinstance(data, str):
            return data + "x"
        return 1

    def byte(self, k: int) -> tuple[bool, str]:
        path = self.dir / f"byte{k}.h5"
        shutil.copy(self.reference, path)
        with h5py.File(path, "r+") as f:
            split = self.rng.choice(json.loads(f.attrs["splits"]))
            name = self.rng.choice(["images", "content", "nuisance"])
            data = f[split][name]
            index = tuple(self.rng.randrange(n) for n in data.shape)
            old = data[index]
            data[index] = np.uint8((int(old) + 1) % 256) if data.dtype == np.uint8 else old + np.asarray(0.25, dtype=data.dtype)
            where = f"{split}/{name}{list(index)}"
        report = cli("verify", path)
        path.unlink()
        return report.returncode == 1, where + ("; verify fails" if report.returncode == 1 else f"; verify exit {report.returncode}")

    def result(self, k: int) -> tuple[bool, str]:
        source = ROOT / "baselines" / "results" / "cpu-quick" / self.rng.choice(sorted(os.listdir(ROOT / "baselines" / "results" / "cpu-quick")))
        data = json.loads(source.read_text(encoding="utf-8"))
        if self.rng.random() < 0.5:
            derived = [("linear", "mean_r2"), ("linear", "mean_mse"), ("invariance", "nuisance_mse"), ("worst_case", "area"),
                       ("sensitivity", "nuisance_to_content"), ("invariance", "probe_nuisance_share", "mean")]
            keys = self.rng.choice(derived)
            node = data["metrics"]
            for key in keys[:-1]:
                node = node[key]
            metric = node[keys[-1]]
            metric["value"] = metric["value"] * self.rng.choice([0.5, 0.9, 1.1, 2.0])
            metric["ci"] = [metric["value"] * 0.99, metric["value"] * 1.01]
            where = f"{source.name}: {'.'.join(keys)} scaled"
            expect = "refused"
        else:
            key = self.rng.choice(["n_test", "n_train", "seed", "worst_case_draws", "n_worst_case"])
            data["suite"][key] = int(data["suite"][key]) + 1
            where = f"{source.name}: suite.{key} + 1"
            expect = "refused or apart"
        path = self.dir / f"result{k}.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        board = self.dir / f"board{k}.md"
        shown = cli("leaderboard", path, ROOT / "spirograph" / "harness" / "entries" / "pixels.json", "--out", board)
        text = board.read_text(encoding="utf-8") if board.exists() else ""
        refused = shown.returncode != 0 and one_line(shown.stderr)
        apart = shown.returncode == 0 and "custom" in text.lower()
        ok = refused if expect == "refused" else (refused or apart)
        path.unlink()
        board.unlink(missing_ok=True)
        return ok, f"{where}; " + ("refused in one line" if refused else "shown apart as a custom suite" if apart else f"accepted (exit {shown.returncode})")

    def symlink(self, k: int) -> tuple[bool, str]:
        victim = self.dir / f"victim{k}.txt"
        victim.write_text("precious\n")
        out = self.dir / f"sym{k}.h5"
        lock = Path(str(out) + ".lock")
        lock.symlink_to(victim)
        done = cli("generate", out, "--train", "20", "--test", "10", "--seed", "1", "--quiet")
        intact = victim.read_text() == "precious\n"
        ok = done.returncode != 0 and one_line(done.stderr) and intact and not out.exists()
        lock.unlink()
        victim.unlink()
        return ok, f"lock symlink: exit {done.returncode}, victim {'unchanged' if intact else 'CHANGED'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="trials of each kind (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the faults drawn (default 0)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    # A campaign started in the background (``&``, nohup) inherits SIGINT ignored, and so would every child:
    # restore Python's handler, which exec resets to the default for the children (ignored signals stay ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="faults-")) if args.workdir is None else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    campaign = Campaign(workdir, rng)
    kinds = ["kill", "attribute", "byte", "result", "symlink"]
    failures, trials = [], 0
    for k in range(args.trials):
        for kind in kinds:
            ok, what = getattr(campaign, kind)(k)
            trials += 1
            print(f"{'ok  ' if ok else 'FAIL'} {kind:9s} {what}", flush=True)
            if not ok:
                failures.append((kind, what))
    print(f"\n{trials} faults injected ({args.trials} of each of {', '.join(kinds)}), seed {args.seed}: "
          f"{len(failures)} lost or let in")
    for kind, what in failures:
        print(f"  {kind}: {what}")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
