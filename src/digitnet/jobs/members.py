"""An ensemble's members as training jobs, whoever trains them (local processes or Ray tasks):
each member's config from the manifest, which members are still to train, and the threads a
member's TensorFlow uses (the same on both paths, so a member's weights do not depend on it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from digitnet.reading.ensemble_dir import EnsembleError, Manifest, Member, member_state
from digitnet.training.config import ConfigError, TrainConfig


def member_train_config(member: Member) -> TrainConfig:
    """The member's TrainConfig from its manifest entry, validated (its network known)."""
    from digitnet.training.networks import check_arch

    if member.config is None:
        raise EnsembleError(f"{member.name}: the manifest holds no config; train a new ensemble")
    try:
        config = TrainConfig.from_dict(member.config)
        config.validate()
    except (ConfigError, TypeError) as error:
        raise EnsembleError(
            f"{member.name}: the manifest's config cannot train ({error}); train a new ensemble"
        ) from None
    check_arch(config.arch)
    return config


def with_configs(manifest: Manifest) -> Manifest:
    """The manifest with every member's config; an old manifest's train flags are converted (once,
    through `digitnet train`'s own flags): each member gets what that command built for it."""
    from digitnet.training.flags import config_from_flags

    if all(member.config is not None for member in manifest.members):
        return manifest
    members = []
    for member in manifest.members:
        flags = ["--arch", member.arch, "--seed", str(member.seed), *manifest.train_args]
        try:
            config = config_from_flags(flags)
        except ConfigError as error:
            raise EnsembleError(
                f"{member.name}: the manifest's train flags cannot train ({error}); train a new ensemble"
            ) from None
        members.append(Member(member.name, member.arch, member.seed, config.to_dict()))
    return Manifest(tuple(members))


def pending_members(
    directory: Path, manifest: Manifest, report: Callable[[str], None] = lambda _line: None
) -> list[Member]:
    """The members without a final model, in order; report hears one line for each finished one."""
    pending = []
    for member in manifest.members:
        if member_state(directory, member) == "done":
            report(f"{member.name}: already trained")
        else:
            pending.append(member)
    return pending


def member_threads(cpus: float) -> int:
    """TensorFlow threads of a member given `cpus` cores: at least 1, whole cores only.

    The thread count changes how TensorFlow splits its sums, so the last bits of the weights
    depend on it: both paths use this function, so a member with the same cores (a local member:
    the machine's cores / --jobs; a Ray member: --cpus-per-member) has the same weights.
    """
    return max(1, int(cpus))


def local_member_cpus(jobs: int) -> float:
    """The cores a local member gets when `jobs` members share this machine."""
    return (os.cpu_count() or 1) // max(1, jobs)


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables that fix a member's threads (read when TensorFlow starts)."""
    return {
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
    }
