"""An ensemble directory's format: a manifest and one ordinary run directory per member.

    ensemble_dir/
      manifest.json          {"members": [{"name", "arch", "seed"}], "train_args": [...]}
      member-00/ ...         a run made by `digitnet train` (config.json, checkpoints, model.keras)
      member-01/ ...

Reading it needs no training code (model_source and predict read ensembles through here); training
members is digitnet.jobs.ensemble.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from digitnet.errors import DigitnetError
from digitnet.layout import CONFIG_FILE, MANIFEST_FILE, MODEL_FILE
from digitnet.util.fileio import atomic_write_text


class EnsembleError(DigitnetError):
    """An ensemble directory that cannot be used as asked; the message says how to fix it."""


@dataclass(frozen=True)
class Member:
    name: str
    arch: str
    seed: int


@dataclass(frozen=True)
class Manifest:
    members: tuple[Member, ...]
    train_args: tuple[str, ...] = ()  # extra `digitnet train` flags shared by every member

    def to_json(self) -> str:
        return (
            json.dumps(
                {"members": [asdict(m) for m in self.members], "train_args": list(self.train_args)}, indent=2
            )
            + "\n"
        )


def plan_members(count: int, archs: list[str], base_seed: int = 0) -> tuple[Member, ...]:
    """N members with distinct seeds; archs are assigned round-robin."""
    if count < 1:
        raise EnsembleError(f"an ensemble needs at least 1 member, got {count}")
    if not archs:
        raise EnsembleError("name at least one --arch")
    return tuple(
        Member(f"member-{index:02d}", archs[index % len(archs)], base_seed + index) for index in range(count)
    )


def is_ensemble_dir(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / MANIFEST_FILE).is_file()


def create_ensemble(directory: Path, manifest: Manifest) -> None:
    """Start a new ensemble directory; never reuses a folder that holds something."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise EnsembleError(f"{directory} exists and is not empty; choose another --out")
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / MANIFEST_FILE, manifest.to_json())


def read_manifest(directory: Path) -> Manifest:
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise EnsembleError(
            f"{directory} is not an ensemble directory (no {MANIFEST_FILE}); "
            "make one with `digitnet ensemble train`"
        )
    try:
        payload = json.loads(path.read_text())
        members = tuple(Member(str(m["name"]), str(m["arch"]), int(m["seed"])) for m in payload["members"])
        return Manifest(members, tuple(payload.get("train_args", ())))
    except (ValueError, KeyError, TypeError) as error:
        raise EnsembleError(f"{path} is damaged ({error}); restore it or train a new ensemble") from error


def member_state(directory: Path, member: Member) -> str:
    """ "done" (has model.keras), "started" (a run without a final model) or "new"."""
    run_dir = Path(directory) / member.name
    if (run_dir / MODEL_FILE).is_file():
        return "done"
    if (run_dir / CONFIG_FILE).is_file():
        return "started"
    return "new"


def member_model_paths(directory: Path) -> list[Path]:
    """Every member's model.keras; a missing one is an error that names the member."""
    manifest = read_manifest(directory)
    paths = []
    for member in manifest.members:
        path = Path(directory) / member.name / MODEL_FILE
        if not path.is_file():
            raise EnsembleError(
                f"ensemble member {member.name} in {directory} has no {MODEL_FILE}; "
                f"finish it with `digitnet ensemble train --out {directory}`"
            )
        paths.append(path)
    return paths
