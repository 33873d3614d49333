"""Training an ensemble: one call (`train_ensemble`) that plans or continues the directory and
trains the members not yet done, as local `digitnet train` processes or as Ray tasks
(digitnet.jobs.cluster). A local member is a separate process, so an interrupted ensemble resumes
member by member (finished members are kept, a started one continues from its checkpoint). The
directory's format is digitnet.reading.ensemble_dir.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from digitnet.jobs.members import (
    local_member_cpus,
    member_threads,
    member_train_config,
    pending_members,
    thread_env,
    with_configs,
)
from digitnet.reading.ensemble_dir import (
    EnsembleError,
    Manifest,
    Member,
    create_ensemble,
    is_ensemble_dir,
    member_state,
    plan_members,
    read_manifest,
    write_manifest,
)
from digitnet.training.config import TrainConfig, config_to_json
from digitnet.util.shutdown import die_with_parent

Report = Callable[[str], None]
# How a member's `digitnet train` process starts (tests run the CLI on synthetic digits instead).
DIGITNET = [sys.executable, "-m", "digitnet"]


@dataclass(frozen=True)
class EnsembleOutcome:
    manifest: Manifest
    continued: bool  # the directory held an ensemble, continued with its own manifest
    failed: list[str]  # members whose training failed (their logs say why)


def train_ensemble(
    directory: Path,
    *,
    members: int,
    archs: str | None,
    base_seed: int,
    config: TrainConfig,
    jobs: int = 1,
    ray: str | None = None,
    cpus_per_member: float = 1,
    gpus_per_member: float = 0,
    shared_dir: Path | None = None,
    data_dir: Path | None = None,
    report: Report = lambda _line: None,
) -> EnsembleOutcome:
    """Plan (or continue) the ensemble in `directory` and train what is not done: `jobs` local
    processes at a time, or Ray tasks when `ray` is an address ("local": a cluster started here).
    Every check a user can fail (resources, folders, flags, data) runs before anything is created.
    """
    for flag, value in (("--cpus-per-member", cpus_per_member), ("--gpus-per-member", gpus_per_member)):
        if not value >= 0:
            raise EnsembleError(f"{flag} must be 0 or more, got {value}")
    if shared_dir is not None and ray is None:
        raise EnsembleError(
            "--shared-dir is for Ray members; add --ray (local members already resume in --out)"
        )
    manifest, continued = open_ensemble(
        directory, members=members, archs=archs, base_seed=base_seed, config=config
    )
    if continued:
        report(
            f"continuing the ensemble in {directory} ({len(manifest.members)} members, "
            "its own manifest; other flags ignored)"
        )
    if data_dir is not None:
        from digitnet.data.mnist import ensure_mnist

        ensure_mnist(data_dir)  # a bad --data-dir fails here once, not in every member
    if ray is None:
        failed = train_members(directory, manifest, jobs=jobs, data_dir=data_dir, report=report)
    else:
        from digitnet.jobs import cluster

        failed = cluster.train_members_on_ray(
            directory,
            manifest,
            ray,
            cpus_per_member,
            gpus_per_member,
            data_dir=data_dir,
            shared_dir=shared_dir,
            report=report,
        )
    return EnsembleOutcome(manifest, continued, failed)


def open_ensemble(
    directory: Path, *, members: int, archs: str | None, base_seed: int, config: TrainConfig
) -> tuple[Manifest, bool]:
    """(the manifest, whether it was already there): an existing ensemble is continued with its own
    manifest (an old one, of train flags, is rewritten once with each member's config); otherwise
    one is planned and created, `members` networks with seeds from `base_seed`.

    archs: a comma-separated list assigned in turn, or None for `config.arch`; config: the members'
    shared hyperparameters, validated here so a bad flag fails once, not in every member.
    """
    from digitnet.training.networks import check_arch

    if is_ensemble_dir(directory):
        manifest = read_manifest(directory)
        upgraded = with_configs(manifest)
        if upgraded != manifest:
            write_manifest(directory, upgraded)
        return upgraded, True
    config.validate()
    names = [arch.strip() for arch in (archs or config.arch).split(",") if arch.strip()]
    for arch in names:
        check_arch(arch)
    manifest = Manifest(plan_members(members, names, base_seed, config.to_dict()))
    create_ensemble(directory, manifest)
    return manifest, False


def member_command(directory: Path, member: Member) -> tuple[list[str], bytes | None]:
    """The `digitnet train` arguments that train (or continue) one member, and what its stdin
    gets: a new member reads its config from the manifest's entry (`--config -`)."""
    run_dir = Path(directory) / member.name
    if member_state(directory, member) == "started":
        return ["train", "--resume", str(run_dir)], None
    config = member_train_config(member)
    return ["train", "--config", "-", "--out", str(run_dir)], config_to_json(config)


def train_members(
    directory: Path,
    manifest: Manifest,
    *,
    jobs: int = 1,
    data_dir: Path | None = None,
    report: Report = lambda _line: None,
) -> list[str]:
    """Train every member not yet done as a `digitnet train` process, `jobs` at a time sharing the
    cores, each logging to DIR/<member>.log; returns the names of those that failed.

    report hears one line as each member is skipped, starts, finishes or fails. Ctrl+C is passed on
    to the running members (each saves a checkpoint) before it is raised here; if this process dies
    any other way, Linux sends each running member SIGTERM (they save a checkpoint too). Call it
    from the main thread: a member is signalled when the thread that started it ends.
    """
    directory = Path(directory)
    pending = pending_members(directory, manifest, report)
    jobs = max(1, min(jobs, len(pending) or 1))
    env = {**os.environ, **thread_env(member_threads(local_member_cpus(jobs)))}
    data_flags = ["--data-dir", str(data_dir)] if data_dir is not None else []
    queue, running, failed = list(pending), {}, []
    try:
        while queue or running:
            while queue and len(running) < jobs:
                member = queue.pop(0)
                command, stdin = member_command(directory, member)
                log = directory / f"{member.name}.log"
                running[member.name] = _start_member(command + data_flags, stdin, log, env)
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


def _start_member(
    command: list[str], stdin: bytes | None, log_path: Path, env: dict
) -> tuple[subprocess.Popen, object]:
    log = open(log_path, "ab")
    process = subprocess.Popen(
        [*DIGITNET, *command],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        env=env,
        preexec_fn=die_with_parent(),  # a coordinator killed even with kill -9 takes its members along
    )
    if stdin is not None:
        try:
            process.stdin.write(stdin)  # a config is a few hundred bytes: never fills the pipe
            process.stdin.close()
        except BrokenPipeError:
            pass  # the member died before reading it: its exit status and log say why
    return process, log


def _collect_finished(running: dict, report: Report) -> list[str]:
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
