"""Chaos: SIGKILL a training run at seeded random moments, resume it each time, and compare the final
weights with an uninterrupted run of the same config (bit for bit, np.array_equal).

Two cases, both `python -m digitnet ...` subprocesses on the real MNIST data:
  train     `digitnet train --recipe fast --epochs E`, killed --kills times, each followed by
            `digitnet train --resume DIR`;
  ensemble  `digitnet ensemble train --members 2 --jobs 2 ...`, killed --ensemble-kills times and the
            same command rerun. The coordinator is killed first, alone (the report says whether its
            member processes outlived it by more than MEMBER_EXIT_GRACE_S), then the rest of its
            process group, as a crash would.

Two more, for what issue 18 asked (choose cases with --only):
  sweep     `digitnet sweep --trials 2 --cpus-per-trial 2` (one trial at a time on two cores) killed
            with SIGKILL (the driver alone) once the first trial has finished and the second has run
            a few seconds; the report says which of the driver's processes (Ray's) outlived it after
            a few seconds, and whether rerunning the same command continued the sweep: the finished
            trial kept (its checkpoint untouched), only the unfinished one run again.
  finetune  `digitnet finetune` killed with SIGKILL while saving (a seeded moment after its staging
            folder appears), --finetune-kills times: --out must not exist afterwards, and a rerun
            succeeds and removes the staging folders the kills left; then one SIGTERM mid-steps,
            which must end it with exit 130 and nothing written.

Checkpoints land only at epoch ends (runs.py), and the fast recipe runs an epoch as one compiled chunk,
so each kill is placed at a seeded fraction (25-75 %) of an epoch after the k-th checkpoint (k seeded):
it always lands mid-chunk, losing work that the resume must redo identically.
Prints one JSON object; exits 1 if any final weights differ.

    PYTHONPATH=src python benchmarks/chaos.py --kills 3 --ensemble-kills 2
    PYTHONPATH=src python benchmarks/chaos.py --only sweep,finetune --finetune-kills 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
    from digitnet.reading.predict import load_model

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


# ---------------------------------------------------------------- a sweep killed mid-trial


def finished_trials(out: Path) -> dict[str, list[str]]:
    """{trial folder: its checkpoint folders} for each trial of the sweep in OUT that has one."""
    experiment = out / "tune" / "sweep"
    found = {}
    for trial in sorted(experiment.glob("*/")) if experiment.is_dir() else []:
        checkpoints = sorted(p.name for p in trial.glob("checkpoint_*") if p.is_dir())
        if checkpoints:
            found[trial.name] = checkpoints
    return found


def tree_snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of every file under `folder`, to tell whether it changed."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:60]
    except OSError:
        return "?"


def chaos_sweep(work: Path, rng, outlive_wait_s: float = 5.0) -> dict:
    from digitnet.jobs.cluster import _proc_stat, descendants

    out, log = work / "sweep", work / "sweep.log"
    command = ["sweep", "--out", str(out), "--search", "lr=1e-3,3e-3", "--trials", "2", "--recipe", "fast"]
    command += ["--epochs", "1", "--cpus-per-trial", "2"]
    began = time.monotonic()
    process = start(command, log)
    started_second = None
    extra_s = float(rng.uniform(3, 8))  # how far into the second trial the kill lands
    record: dict = {"command": "digitnet " + " ".join(command).replace(str(out), "OUT")}
    while process.poll() is None:
        finished = finished_trials(out)
        trials = [p for p in (out / "tune" / "sweep").glob("*/")] if (out / "tune" / "sweep").is_dir() else []
        if finished and len(trials) >= 2 and started_second is None:
            started_second = time.monotonic()
        if started_second is not None and time.monotonic() >= started_second + extra_s:
            break
        if time.monotonic() - began > RUN_TIMEOUT_S:
            kill_group(process)
            raise SystemExit(f"the sweep did not reach its second trial in {RUN_TIMEOUT_S} s; see {log}")
        time.sleep(POLL_S)
    else:
        return {**record, "killed": False, "exit": process.returncode}
    kept_before = finished_trials(out)
    snapshots = {trial: tree_snapshot(out / "tune" / "sweep" / trial) for trial in kept_before}
    below = descendants(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    record["killed_after_s"] = round(time.monotonic() - began, 1)
    record["processes_below_driver_at_kill"] = len(below)
    killed_at = time.monotonic()
    for wait_s in (outlive_wait_s, 3 * outlive_wait_s):
        time.sleep(max(0.0, killed_at + wait_s - time.monotonic()))
        alive = [pid for pid, started in below.items() if (_proc_stat(pid) or (0, ""))[1] == started]
        record[f"alive_{wait_s:g}_s_after_kill"] = sorted(process_name(pid) for pid in alive)
    for pid in alive:  # not to disturb the rerun or the machine: ours to end
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    record["finished_trials_at_kill"] = len(kept_before)
    rerun_s = run_to_end(command, log)
    after = finished_trials(out)
    record["rerun_wall_s"] = round(rerun_s, 1)
    record["finished_trials_after_rerun"] = len(after)
    record["finished_trial_kept_untouched"] = all(
        tree_snapshot(out / "tune" / "sweep" / trial) == snapshots[trial] for trial in kept_before
    )
    rows = (out / "trials.csv").read_text().splitlines()[1:]
    record["trials_csv_rows"] = len(rows)
    record["trials_done"] = sum(row.endswith(",done") for row in rows)
    record["best_json_written"] = (out / "best.json").is_file()
    record["ok"] = (
        record["finished_trial_kept_untouched"] and record["trials_done"] == 2 and record["best_json_written"]
    )
    return record


# ---------------------------------------------------------------- finetune killed while saving


def write_examples(folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index in range(12):
        pixels = np.zeros((28, 28), np.uint8)
        pixels[4:24, 8 + index % 10 : 12 + index % 10] = 255
        Image.fromarray(pixels).save(folder / f"ex{index:02d}_{index % 10}.png")


def out_state(out: Path) -> str:
    """absent, complete (the model and its record), or partial: what a kill must never leave."""
    if not out.exists():
        return "absent"
    return "complete" if (out / "model.keras").is_file() and (out / "finetune.json").is_file() else "partial"


def chaos_finetune(work: Path, rng, kills: int) -> dict:
    examples, out, log = work / "writer", work / "adapted", work / "finetune.log"
    write_examples(examples)
    command = ["finetune", str(examples), "--out", str(out), "--steps", "20", "--no-mnist-check"]
    staging_glob = f".{out.name}.partial-*"
    records = []
    for _ in range(kills):
        delay = float(rng.uniform(0, 0.3))  # seconds after the staging folder appears
        process = start(command, log)
        seen = None
        while process.poll() is None:
            if seen is None and any(out.parent.glob(staging_glob)):
                seen = time.monotonic()
            if seen is not None and time.monotonic() >= seen + delay:
                process.send_signal(signal.SIGKILL)
                process.wait()
                break
            time.sleep(0.002)
        records.append(
            {
                "delay_s": round(delay, 3),
                "killed_while_saving": seen is not None and process.returncode == -signal.SIGKILL,
                "out_after_kill": out_state(out),
                "staging_left": len(list(out.parent.glob(staging_glob))),
            }
        )
        if out.exists():  # the save finished before the kill: start the next round afresh
            shutil.rmtree(out)
    staging_before = len(list(out.parent.glob(staging_glob)))
    rerun_s = run_to_end(command, log)
    result = {
        "command": "digitnet finetune EXAMPLES --out OUT --steps 20 --no-mnist-check",
        "kills": records,
        "staging_left_before_rerun": staging_before,
        "rerun_wall_s": round(rerun_s, 1),
        "rerun_out_complete": (out / "model.keras").is_file() and (out / "finetune.json").is_file(),
        "staging_left_after_rerun": len(list(out.parent.glob(staging_glob))),
    }
    shutil.rmtree(out)
    process = start([*command[:-3], "--steps", "100000", "--no-mnist-check"], log)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while "step 50/" not in log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(POLL_S)  # mid-steps
    process.send_signal(signal.SIGTERM)
    result["sigterm_exit"] = process.wait(timeout=60)
    result["sigterm_out_exists"] = out.exists()
    result["ok"] = (
        all(r["out_after_kill"] != "partial" for r in records)
        and result["rerun_out_complete"]
        and result["staging_left_after_rerun"] == 0
        and result["sigterm_exit"] == 130
        and not result["sigterm_out_exists"]
    )
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs of the single training run")
    parser.add_argument("--ensemble-kills", type=int, default=2, help="SIGKILLs of the ensemble run")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the single run")
    parser.add_argument("--ensemble-epochs", type=int, default=2, help="epochs of each ensemble member")
    parser.add_argument("--finetune-kills", type=int, default=3, help="SIGKILLs of finetune while saving")
    parser.add_argument(
        "--only",
        default="train,ensemble",
        help="cases to run, comma-separated: train, ensemble, sweep, finetune",
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill times")
    parser.add_argument("--work", type=Path, help="keep the runs here (default: a temporary folder)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    only = set(args.only.split(","))
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="digitnet-chaos-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        train = chaos_train(work, rng, args.kills, args.epochs) if args.kills and "train" in only else None
        ensemble = (
            chaos_ensemble(work, rng, args.ensemble_kills, args.ensemble_epochs)
            if "ensemble" in only
            else None
        )
        sweep = chaos_sweep(work, rng) if "sweep" in only else None
        finetune = chaos_finetune(work, rng, args.finetune_kills) if "finetune" in only else None
        result = {"benchmark": "chaos", "seed": args.seed}
        if train:
            result["train"] = {"command": f"digitnet train --recipe fast --epochs {args.epochs}", **train}
        if ensemble:
            result["ensemble"] = {
                "command": f"digitnet ensemble train --members 2 --jobs 2 --recipe fast "
                f"--epochs {args.ensemble_epochs}",
                **ensemble,
            }
        if sweep:
            result["sweep"] = sweep
        if finetune:
            result["finetune"] = finetune
        result["wall_s"] = round(time.monotonic() - began, 1)
        result["machine"] = describe_machine()
    parts = [part for part in (train, ensemble) if part]
    result["kills"] = sum(p["kills"] for p in parts)
    result["resumes"] = sum(p["resumes"] for p in parts)
    result["matches"] = sum(p["weights_match_uninterrupted"] for p in parts)
    result["runs_compared"] = len(parts)
    print(json.dumps(result, indent=2))
    ok = result["matches"] == len(parts) and all(part["ok"] for part in (sweep, finetune) if part)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
