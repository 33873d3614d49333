"""Training an ensemble's members: each as a separate `digitnet train` process, so an interrupted
ensemble resumes member by member (finished members are kept, a started one continues from its
checkpoint). The directory's format is digitnet.reading.ensemble_dir.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from digitnet.reading.ensemble_dir import (
    Manifest,
    Member,
    create_ensemble,
    is_ensemble_dir,
    member_state,
    plan_members,
    read_manifest,
)
from digitnet.training.config import TrainConfig
from digitnet.util.shutdown import die_with_parent


def member_command(directory: Path, member: Member, train_args: tuple[str, ...]) -> list[str]:
    """The `digitnet train` arguments that train (or continue) one member."""
    run_dir = Path(directory) / member.name
    if member_state(directory, member) == "started":
        return ["train", "--resume", str(run_dir)]
    return ["train", "--arch", member.arch, "--seed", str(member.seed), "--out", str(run_dir), *train_args]


def open_ensemble(
    directory: Path,
    *,
    members: int,
    archs: str | None,
    base_seed: int,
    config: TrainConfig,
    train_args: tuple[str, ...] | list[str],
) -> tuple[Manifest, bool]:
    """(the manifest, whether it was already there): an existing ensemble is continued with its own
    manifest; otherwise one is planned and created, `members` networks with seeds from `base_seed`.

    archs: a comma-separated list assigned in turn, or None for `config.arch`; config: the members'
    shared hyperparameters (without --arch), validated here so a bad flag fails once, not in every
    member; train_args: the `digitnet train` flags that give each member that config.
    """
    from digitnet.training.networks import check_arch

    if is_ensemble_dir(directory):
        return read_manifest(directory), True
    config.validate()
    names = [arch.strip() for arch in (archs or config.arch).split(",") if arch.strip()]
    for arch in names:
        check_arch(arch)
    manifest = Manifest(plan_members(members, names, base_seed), tuple(train_args))
    create_ensemble(directory, manifest)
    return manifest, False


def train_members(
    directory: Path,
    manifest: Manifest,
    *,
    jobs: int = 1,
    data_dir: Path | None = None,
    report: Callable[[str], None] = lambda _line: None,
) -> list[str]:
    """Train every member not yet done as a `digitnet train` process, `jobs` at a time sharing the
    cores, each logging to DIR/<member>.log; returns the names of those that failed.

    report hears one line as each member is skipped, starts, finishes or fails. Ctrl+C is passed on
    to the running members (each saves a checkpoint) before it is raised here; if this process dies
    any other way, Linux sends each running member SIGTERM (they save a checkpoint too). Call it
    from the main thread: a member is signalled when the thread that started it ends.
    """
    directory = Path(directory)
    pending = [member for member in manifest.members if member_state(directory, member) != "done"]
    for member in manifest.members:
        if member not in pending:
            report(f"{member.name}: already trained")
    jobs = max(1, min(jobs, len(pending) or 1))
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": threads, "OMP_NUM_THREADS": threads}
    data_flags = ["--data-dir", str(data_dir)] if data_dir is not None else []
    queue, running, failed = list(pending), {}, []
    try:
        while queue or running:
            while queue and len(running) < jobs:
                member = queue.pop(0)
                command = member_command(directory, member, manifest.train_args) + data_flags
                running[member.name] = _start_member(command, directory / f"{member.name}.log", env)
                report(f"{member.name}: training ({member.arch}, seed {member.seed})")
            time.sleep(0.2)
            failed += _collect_finished(running, report)
    except KeyboardInterrupt:
        for process, _ in running.values():
            process.send_signal(signal.SIGINT)  # each member saves a checkpoint
        for process, log in running.values():
            process.wait()
            log.close()
        raise
    return failed


def _start_member(command: list[str], log_path: Path, env: dict) -> tuple[subprocess.Popen, object]:
    log = open(log_path, "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "digitnet", *command],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        preexec_fn=die_with_parent(),  # a coordinator killed even with kill -9 takes its members along
    )
    return process, log


def _collect_finished(running: dict, report: Callable[[str], None]) -> list[str]:
    """Removes finished members from `running`; returns the names of those that failed."""
    failed = []
    for name, (process, log) in list(running.items()):
        if process.poll() is None:
            continue
        log.close()
        del running[name]
        if process.returncode == 0:
            report(f"{name}: done")
        else:
            failed.append(name)
            report(f"{name}: failed (exit {process.returncode})")
    return failed
