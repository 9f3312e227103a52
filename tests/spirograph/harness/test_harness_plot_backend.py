"""The leaderboard figure leaves the caller's matplotlib state alone and is written by the one writer."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def test_plot_does_not_switch_the_global_backend(tmp_path):
    # A fresh interpreter: the backend choice is process-global, so it cannot be checked in-process.
    code = textwrap.dedent(
        f"""
        import matplotlib
        matplotlib.use("svg")
        from spirograph.harness.leaderboard import load_results, shipped_entries
        from spirograph.harness.plots import plot_leaderboard
        plot_leaderboard(load_results(shipped_entries()), {str(tmp_path / "board.png")!r})
        print(matplotlib.get_backend())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "svg"
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "board.png").stat().st_mode & 0o777 == 0o666 & ~mask
    assert os.listdir(tmp_path) == ["board.png"]
