"""Run-directory locks: one trainer per run, refused with the holder's PID, never left stale."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from digitnet.errors import DigitnetError
from digitnet.training import loop, runs
from digitnet.training.config import TrainConfig
from digitnet.util import locks

SRC = str(Path(__file__).resolve().parents[1] / "src")
TINY = dict(batch_size=50, learning_rate=1e-3, train_eval_size=200, steps_per_call=4, epochs=1)


def test_a_held_lock_refuses_a_second_acquire_naming_the_holder_s_pid(tmp_path):
    with locks.run_lock(tmp_path):
        with pytest.raises(locks.RunLockError, match=rf"PID {os.getpid()}\b") as refused:
            locks.acquire_run_lock(tmp_path)
    assert isinstance(refused.value, DigitnetError)
    assert "\n" not in str(refused.value) and "--resume" in str(refused.value)
    locks.release_run_lock(locks.acquire_run_lock(tmp_path))  # free again after the block


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path):
    holder_script = textwrap.dedent("""
        import sys, time
        from digitnet.util import locks
        locks.acquire_run_lock(sys.argv[1])
        print("locked", flush=True)
        time.sleep(60)
    """)
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_script, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(locks.RunLockError, match=rf"PID {holder.pid}\b"):
            locks.acquire_run_lock(tmp_path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    locks.release_run_lock(locks.acquire_run_lock(tmp_path))  # no stale lock after kill -9


def test_train_and_resume_refuse_a_run_another_process_is_training(tmp_path, tiny_mnist):
    run_dir = tmp_path / "run"
    loop.train(TrainConfig(seed=1, **TINY), run_dir, tiny_mnist)
    with locks.run_lock(run_dir):
        with pytest.raises(locks.RunLockError, match=str(os.getpid())):
            loop.resume(run_dir, tiny_mnist)
    assert loop.resume(run_dir, tiny_mnist).iterations == 12  # the lock went with the block


def test_a_new_run_does_not_trip_over_its_own_lock_file(tmp_path, tiny_mnist):
    run_dir = tmp_path / "run"
    loop.train(TrainConfig(seed=1, **TINY), run_dir, tiny_mnist)
    assert (run_dir / locks.LOCK_FILE).is_file()
    with pytest.raises(runs.RunError, match="already holds a run"):
        loop.train(TrainConfig(seed=1, **TINY), run_dir, tiny_mnist)


def _wait_for(condition, seconds: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.slow
def test_two_resumes_of_one_run_the_second_exits_2_naming_the_first_which_sigterm_checkpoints(tmp_path):
    """Both on real MNIST from the CLI: the first trains (a long epoch) while the second is refused."""
    run_dir = tmp_path / "run"
    runs.create_run(run_dir, TrainConfig(seed=3, **dict(TINY, epochs=3)), {})
    command = [sys.executable, "-m", "digitnet", "train", "--resume", str(run_dir)]
    env = {**os.environ, "PYTHONPATH": SRC}
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        # The event file appears just before the training loop, long after the lock is taken.
        _wait_for(lambda: (run_dir / runs.TENSORBOARD_DIR).is_dir(), 120, first)
        time.sleep(1.0)
        second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        assert second.returncode == 2, second.stderr[-2000:]
        assert f"PID {first.pid}" in second.stderr
        assert second.stderr.strip().splitlines()[-1].startswith("digitnet: error:")
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)  # as a dying ensemble coordinator would send it
        _, first_err = first.communicate(timeout=60)
    assert first.returncode == 130, first_err[-2000:]
    checkpoint, _ = runs.latest_checkpoint(run_dir)
    assert checkpoint is not None and checkpoint.iteration > 0  # saved on SIGTERM, as on Ctrl+C
