"""The release artefacts install in a fresh virtual environment and work (slow: builds and installs).

Run with: python -m pytest tests/test_release.py -m slow
"""

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SMOKE = r"""
import json, subprocess, sys, tempfile, torch
from pathlib import Path
import spirograph, spirograph_baselines
factors = spirograph.FactorSpace().sample(4, seed=0)
assert spirograph.render(factors).shape == (4, 3, 32, 32)
with tempfile.TemporaryDirectory() as tmp:
    out = Path(tmp)
    bin_dir = Path(sys.executable).parent
    subprocess.run([bin_dir / "spirograph", "generate", out / "d.h5", "--train", "16", "--test", "8", "--seed", "0", "--quiet"], check=True)
    subprocess.run([bin_dir / "spirograph", "verify", out / "d.h5"], check=True)
    subprocess.run([bin_dir / "spirograph", "score", "--reference", "oracle", "--suite", "quick", "--tasks", "linear",
                    "--out", out / "oracle.json", "--quiet"], check=True)
    r2 = json.loads((out / "oracle.json").read_text())["metrics"]["linear"]["mean_r2"]["value"]
    assert r2 > 0.999, r2
    subprocess.run([bin_dir / "spirograph", "leaderboard", "--references"], check=True, capture_output=True)
print("smoke ok")
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_artefact_installs_and_runs(tmp_path, kind):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", f"--{kind}", "--outdir", dist, ROOT], check=True, capture_output=True)
    (artefact,) = dist.iterdir()
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "-c", ROOT / "constraints.txt", artefact], check=True)
    done = subprocess.run([python, "-c", SMOKE], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert "smoke ok" in done.stdout
