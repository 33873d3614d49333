"""`digitnet sweep` through its command line: Ctrl+C stops it with its state saved, and rerunning
the same command continues it to a complete trials.csv (a grid: each choice once). The CLI runs in
a subprocess on the tiny synthetic digits (tests/synthetic_cli.py), with a Ray cluster of its own.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

SOURCE_ROOT = Path(__file__).resolve().parents[1] / "src"
SYNTHETIC_CLI = [sys.executable, str(Path(__file__).with_name("synthetic_cli.py"))]


def _first_epoch_reported(out: Path) -> bool:
    return any(path.stat().st_size > 0 for path in out.glob("tune/sweep/*/result.json"))


def test_an_interrupted_sweep_is_continued_by_rerunning_the_command(tmp_path):
    out = tmp_path / "sweep"
    argv = [*SYNTHETIC_CLI, "sweep", "--out", str(out), "--search", "lr=1e-3,2e-3,3e-3"]
    argv += ["--epochs", "3", "--train-eval-size", "200", "--cpus-per-trial", "1"]
    paths = [str(SOURCE_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "CUDA_VISIBLE_DEVICES": ""}
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 300
        while not _first_epoch_reported(out):
            assert first.poll() is None, first.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no trial reported an epoch"
            time.sleep(0.2)
        first.send_signal(signal.SIGINT)  # Ctrl+C while the grid's trials are running
        _, stderr = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130, stderr[-2000:]
    assert f"rerun `digitnet sweep --out {out}`" in stderr
    assert not (out / "trials.csv").exists()  # nothing claims the sweep is done

    second = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "continuing the sweep" in second.stderr and "best of 3 trials" in second.stdout
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert sorted(float(row["learning_rate"]) for row in rows) == [1e-3, 2e-3, 3e-3]  # each once
    assert {row["status"] for row in rows} == {"done"}
    assert (out / "best-run" / "model.keras").is_file()
