"""Chaos: SIGKILL a training run at seeded random moments, resume it each time, and compare the final
weights with an uninterrupted run of the same config (bit for bit, np.array_equal).

Two cases, both `python -m digitnet ...` subprocesses on the real MNIST data:
  train     `digitnet train --recipe fast --epochs E`, killed --kills times, each followed by
            `digitnet train --resume DIR`;
  ensemble  `digitnet ensemble train --members 2 --jobs 2 ...`, killed --ensemble-kills times and the
            same command rerun. The coordinator is killed first, alone (the report says whether its
            member processes outlived it by more than MEMBER_EXIT_GRACE_S), then the rest of its
            process group, as a crash would.

Checkpoints land only at epoch ends (runs.py), and the fast recipe runs an epoch as one compiled chunk,
so each kill is placed at a seeded fraction (25-75 %) of an epoch after the k-th checkpoint (k seeded):
it always lands mid-chunk, losing work that the resume must redo identically.
Prints one JSON object; exits 1 if any final weights differ.

    PYTHONPATH=src python benchmarks/chaos.py --kills 3 --ensemble-kills 2
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from machine import describe_machine  # noqa: E402

SRC = Path(__file__).resolve().parent.parent / "src"
POLL_S = 0.1
RUN_TIMEOUT_S = 600  # one process, start to finish; a hang is a failure, not a wait
KILL_WINDOW = (0.25, 0.75)  # where in an epoch a kill lands, as a fraction of the epoch's duration


def digitnet_env() -> dict:
    """This checkout's package for the subprocesses, whatever is installed."""
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2"}


def start(args: list[str], log: Path) -> subprocess.Popen:
    """`python -m digitnet ARGS` in its own process group (so a crash can take all of it)."""
    with open(log, "ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "digitnet", *args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=digitnet_env(),
            start_new_session=True,
        )


def run_to_end(args: list[str], log: Path) -> float:
    """Run to completion; its wall time. A failure names the log to read."""
    began = time.monotonic()
    process = start(args, log)
    if process.wait(timeout=RUN_TIMEOUT_S) != 0:
        raise SystemExit(f"`digitnet {' '.join(args)}` failed (exit {process.returncode}); see {log}")
    return time.monotonic() - began


def epochs_done(run_dirs: list[Path]) -> int:
    """The most epochs any of the runs has a complete checkpoint for (0: none yet)."""
    from digitnet.training import runs

    done = 0
    for run_dir in run_dirs:
        try:
            checkpoint, _ = runs.latest_checkpoint(run_dir)
        except (OSError, runs.RunError):  # being pruned or not yet created
            continue
        if checkpoint is not None:
            done = max(done, checkpoint.epoch)
    return done


MEMBER_EXIT_GRACE_S = 20.0  # a member saves a checkpoint and exits; one still running after this outlived it


def kill_group(process: subprocess.Popen) -> bool:
    """SIGKILL the coordinator alone, then whatever of its group outlived it by MEMBER_EXIT_GRACE_S;
    whether anything did."""
    process.send_signal(signal.SIGKILL)
    process.wait()
    # Members are told (PR_SET_PDEATHSIG) and stop after saving a checkpoint: give them that long.
    deadline = time.monotonic() + MEMBER_EXIT_GRACE_S
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(POLL_S)
    os.killpg(process.pid, signal.SIGKILL)
    while True:  # wait until the whole group is gone before anything is rerun
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(POLL_S)


def kill_at(args, log, run_dirs, after_epochs: int, fraction: float, timing: dict) -> dict:
    """Start `digitnet ARGS`, SIGKILL it `fraction` of an epoch after `after_epochs` checkpoints exist
    (if they existed at start: that far into its first epoch of training); what happened."""
    began = time.monotonic()
    process = start(args, log)
    anchor = None
    while process.poll() is None:
        if anchor is None and epochs_done(run_dirs) >= after_epochs:
            anchor = max(time.monotonic(), began + timing["startup_s"])
        if anchor is not None and time.monotonic() >= anchor + fraction * timing["epoch_s"]:
            record = {"after_epochs": after_epochs, "epoch_fraction": round(fraction, 3)}
            record["epochs_checkpointed_at_kill"] = epochs_done(run_dirs)
            record["seconds_after_start"] = round(time.monotonic() - began, 1)
            record["members_outlived_coordinator"] = kill_group(process)
            record["killed"] = True
            return record
        if time.monotonic() - began > RUN_TIMEOUT_S:
            kill_group(process)
            raise SystemExit(f"`digitnet {' '.join(args)}` did not finish in {RUN_TIMEOUT_S} s; see {log}")
        time.sleep(POLL_S)
    return {"after_epochs": after_epochs, "killed": False, "exit": process.returncode}


def kill_schedule(rng: np.random.Generator, kills: int, epochs: int) -> list[tuple[int, float]]:
    """(checkpoints to wait for, fraction of an epoch after them) per kill, in the order they happen."""
    after = np.sort(rng.integers(0, epochs, size=kills))
    fractions = rng.uniform(*KILL_WINDOW, size=kills)
    return [(int(a), float(f)) for a, f in zip(after, fractions)]


def timing_of(run_dir: Path, wall_s: float, epochs: int) -> dict:
    """Seconds an epoch takes, and seconds before the first one starts, from a finished run."""
    from digitnet.training import runs

    trained_s = float(runs.read_metrics(run_dir)[-1]["elapsed_seconds"])
    epoch_s = trained_s / epochs
    return {"epoch_s": epoch_s, "startup_s": max(0.0, (wall_s - trained_s) * 0.6)}


def same_weights(a: Path, b: Path) -> bool:
    from digitnet.jobs.keras_models import load_model

    first, second = load_model(a).get_weights(), load_model(b).get_weights()
    return len(first) == len(second) and all(np.array_equal(x, y) for x, y in zip(first, second))


def chaos_train(work: Path, rng, kills: int, epochs: int) -> dict:
    """One run killed `kills` times and resumed after each, against an uninterrupted one."""
    config = ["--recipe", "fast", "--epochs", str(epochs), "--seed", "3"]
    whole, cut, log = work / "train-whole", work / "train-cut", work / "train.log"
    wall_s = run_to_end(["train", *config, "--out", str(whole)], log)
    timing = timing_of(whole, wall_s, epochs)
    records, command = [], ["train", *config, "--out", str(cut)]
    for after, fraction in kill_schedule(rng, kills, epochs):
        records.append(kill_at(command, log, [cut], after, fraction, timing))
        command = ["train", "--resume", str(cut)]
    resumes = sum(r["killed"] for r in records)
    if records[-1]["killed"]:
        run_to_end(command, log)
    return _summary(records, resumes, same_weights(whole, cut), wall_s, timing)


def chaos_ensemble(work: Path, rng, kills: int, epochs: int) -> dict:
    """A two-member ensemble killed `kills` times, the same command rerun after each."""
    config = ["--members", "2", "--jobs", "2", "--recipe", "fast", "--epochs", str(epochs), "--seed", "5"]
    whole, cut, log = work / "ensemble-whole", work / "ensemble-cut", work / "ensemble.log"
    wall_s = run_to_end(["ensemble", "train", *config, "--out", str(whole)], log)
    timing = timing_of(whole / "member-00", wall_s, epochs)
    command = ["ensemble", "train", *config, "--out", str(cut)]
    members = [cut / "member-00", cut / "member-01"]
    records = [kill_at(command, log, members, a, f, timing) for a, f in kill_schedule(rng, kills, epochs)]
    if records[-1]["killed"]:
        run_to_end(command, log)
    matches = {m.name: same_weights(whole / m.name, m) for m in members}
    return {
        **_summary(records, sum(r["killed"] for r in records), all(matches.values()), wall_s, timing),
        "members_match": matches,
    }


def _summary(records: list[dict], resumes: int, match: bool, wall_s: float, timing: dict) -> dict:
    return {
        "kills": sum(r["killed"] for r in records),
        "resumes": resumes,
        "weights_match_uninterrupted": match,
        "uninterrupted_wall_s": round(wall_s, 1),
        "epoch_s": round(timing["epoch_s"], 1),
        "kill_points": records,
    }


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs of the single training run")
    parser.add_argument("--ensemble-kills", type=int, default=2, help="SIGKILLs of the ensemble run")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the single run")
    parser.add_argument("--ensemble-epochs", type=int, default=2, help="epochs of each ensemble member")
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill times")
    parser.add_argument("--work", type=Path, help="keep the runs here (default: a temporary folder)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="digitnet-chaos-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        train = chaos_train(work, rng, args.kills, args.epochs) if args.kills else None
        ensemble = chaos_ensemble(work, rng, args.ensemble_kills, args.ensemble_epochs)
        result = {
            "benchmark": "chaos",
            "seed": args.seed,
            "train": {"command": f"digitnet train --recipe fast --epochs {args.epochs}", **(train or {})},
            "ensemble": {
                "command": f"digitnet ensemble train --members 2 --jobs 2 --recipe fast "
                f"--epochs {args.ensemble_epochs}",
                **ensemble,
            },
            "wall_s": round(time.monotonic() - began, 1),
            "machine": describe_machine(),
        }
    parts = [part for part in (train, ensemble) if part]
    result["kills"] = sum(p["kills"] for p in parts)
    result["resumes"] = sum(p["resumes"] for p in parts)
    result["matches"] = sum(p["weights_match_uninterrupted"] for p in parts)
    result["runs_compared"] = len(parts)
    print(json.dumps(result, indent=2))
    return 0 if result["matches"] == len(parts) else 1


if __name__ == "__main__":
    sys.exit(main())
