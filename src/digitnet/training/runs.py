"""A run directory: its config, metrics, checkpoints and final model, all written atomically.

run_dir/
  config.json                  every hyperparameter (what --resume trusts)
  metrics.csv                  one row an epoch
  tensorboard/                 scalars and the graph
  checkpoints/ckpt-00001100/   state.npz + meta.json; the name appears only once complete
  model.keras                  the final model
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitnet.errors import DigitnetError
from digitnet.layout import CONFIG_FILE, METRICS_FILE, read_metrics_rows
from digitnet.training.config import ConfigError, TrainConfig, config_to_json, load_config
from digitnet.util.fileio import atomic_write_bytes, atomic_write_text, publish_directory, write_error

TENSORBOARD_DIR = "tensorboard"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PREFIX = "ckpt-"
CHECKPOINTS_KEPT = 2  # older ones are pruned once a newer one is complete


class RunError(DigitnetError):
    """A run directory that cannot be used as asked; the message says how to fix it."""


@dataclass
class Checkpoint:
    iteration: int  # optimizer steps taken so far
    epoch: int  # epochs completed so far
    arrays: dict[
        str, np.ndarray
    ]  # model and optimizer variables, keyed by position (see train.capture_state)
    history: list[dict] = field(default_factory=list)  # metrics rows of completed epochs
    path: Path | None = None
    # Mid-epoch (Ctrl-C) only: the epoch's running sums so far, {"epoch", "loss_sum", "chunks",
    # "seconds"} (see train.EpochTally), so its metrics row comes out as if never interrupted.
    epoch_progress: dict | None = None


# Temporaries of fileio's atomic writes (".NAME.XXXX.tmp", ".model-XXXX.keras"): complete ones are
# renamed away at once, so any still here were left by a process killed mid-write.
STALE_TEMPORARY_PATTERNS = (".*.tmp", ".model-*.keras")


def clean_stale_temporaries(run_dir: Path) -> list[Path]:
    """Remove what killed writes left in `run_dir` (run only by the one process training it)."""
    removed = []
    for pattern in STALE_TEMPORARY_PATTERNS:
        for path in Path(run_dir).glob(pattern):
            if path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def default_run_dir(arch: str, root: Path = Path("runs")) -> Path:
    return root / f"{arch}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_new_run_dir(run_dir: Path) -> None:
    """RunError when `run_dir` can never become a run's folder: it, or a folder above it, is a file."""
    run_dir = Path(run_dir)
    for path in (run_dir, *run_dir.parents):
        if path.exists() or path.is_symlink():
            if not path.is_dir():
                where = "is a file" if path == run_dir else f"is under {path}, which is a file"
                raise RunError(f"{run_dir} {where}, not a folder; choose another --out")
            return


def create_run(run_dir: Path, config: TrainConfig, extra: dict | None = None) -> None:
    """Start a new run in `run_dir`; never reuses a folder that holds something."""
    run_dir = Path(run_dir)
    check_new_run_dir(run_dir)
    if (run_dir / CONFIG_FILE).exists():
        raise RunError(
            f"{run_dir} already holds a run; continue it with "
            f"`digitnet train --resume {run_dir}` or choose another --out"
        )
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunError(f"{run_dir} exists and is not empty; choose another --out")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunError(
            f"cannot make the run folder {run_dir} ({error.strerror}); choose another --out"
        ) from error
    atomic_write_bytes(run_dir / CONFIG_FILE, config_to_json(config, extra))


def read_run_config(run_dir: Path) -> TrainConfig:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir} is not a directory; pass the folder of a run made by `digitnet train`")
    if not (run_dir / CONFIG_FILE).is_file():
        raise RunError(
            f"{run_dir} is not a digitnet run (no {CONFIG_FILE}); "
            "pass the folder of a run made by `digitnet train`"
        )
    try:
        config = load_config(run_dir / CONFIG_FILE)
    except ConfigError as error:
        raise RunError(str(error)) from error
    try:
        config.validate()  # exactly as a new run's flags: a hand-edited file must not hang or crash
    except ConfigError as error:
        raise RunError(
            f"{run_dir / CONFIG_FILE}: {error}; the run's config was edited or damaged: "
            "fix it or start a new run"
        ) from error
    return config


def write_metrics(run_dir: Path, rows: list[dict]) -> None:
    if not rows:
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(Path(run_dir) / METRICS_FILE, buffer.getvalue())


def read_metrics(run_dir: Path) -> list[dict]:
    return [{key: float(value) for key, value in row.items()} for row in read_metrics_rows(run_dir)]


def _checkpoint_dirs(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = [
        path
        for path in root.iterdir()
        if path.is_dir()
        and path.name.startswith(CHECKPOINT_PREFIX)
        and path.name[len(CHECKPOINT_PREFIX) :].isdigit()
    ]
    return sorted(found, key=lambda path: int(path.name[len(CHECKPOINT_PREFIX) :]))


def save_checkpoint(run_dir: Path, checkpoint: Checkpoint) -> Path:
    """Write into a staging folder, fsync, then rename: a checkpoint either exists whole or not at all."""
    root = Path(run_dir) / CHECKPOINT_DIR
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=".partial-"))
    except OSError as error:
        raise write_error(root, error) from error
    try:
        np.savez(staging / "state.npz", **checkpoint.arrays)
        meta = {
            "iteration": checkpoint.iteration,
            "epoch": checkpoint.epoch,
            "history": checkpoint.history,
            "variables": sorted(checkpoint.arrays),
        }
        if checkpoint.epoch_progress is not None:
            meta["epoch_progress"] = checkpoint.epoch_progress
        (staging / "meta.json").write_text(json.dumps(meta, indent=1))
        final = root / f"{CHECKPOINT_PREFIX}{checkpoint.iteration:08d}"
        publish_directory(staging, final)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)  # the checkpoints before stay whole
        if isinstance(error, OSError) and not isinstance(error, DigitnetError):
            raise write_error(root / f"{CHECKPOINT_PREFIX}{checkpoint.iteration:08d}", error) from error
        raise
    _prune(root)
    return final


def _prune(root: Path) -> None:
    for stale in _checkpoint_dirs(root.parent)[:-CHECKPOINTS_KEPT]:
        shutil.rmtree(stale, ignore_errors=True)
    for partial in root.glob(".partial-*"):  # left by a process killed mid-write
        shutil.rmtree(partial, ignore_errors=True)


# What every metrics row holds; a checkpoint whose history rows lack one is damaged.
HISTORY_KEYS = (
    "epoch",
    "iteration",
    "batch_loss",
    "train_loss",
    "train_accuracy",
    "validation_loss",
    "validation_accuracy",
    "elapsed_seconds",
)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_meta(meta) -> None:
    """ValueError unless meta.json has the structure save_checkpoint writes (valid JSON is not enough)."""
    if not isinstance(meta, dict):
        raise ValueError("meta.json is not an object")
    for name in ("iteration", "epoch"):
        if not _is_count(meta.get(name)):
            raise ValueError(f"meta.json's {name} is not a whole number: {meta.get(name)!r}")
    history = meta.get("history")
    if not isinstance(history, list):
        raise ValueError("meta.json's history is not a list of metrics rows")
    for row in history:
        if not isinstance(row, dict) or not all(_is_number(row.get(key)) for key in HISTORY_KEYS):
            raise ValueError(f"a history row in meta.json lacks one of {', '.join(HISTORY_KEYS)}")
    progress = meta.get("epoch_progress")
    if progress is not None and not (
        isinstance(progress, dict)
        and _is_count(progress.get("epoch"))
        and _is_count(progress.get("chunks"))
        and all(_is_number(progress.get(key)) for key in ("loss_sum", "seconds"))
    ):
        raise ValueError("meta.json's epoch_progress is not {epoch, loss_sum, chunks, seconds}")
    variables = meta.get("variables")
    if not isinstance(variables, list) or not all(isinstance(name, str) for name in variables):
        raise ValueError("meta.json's variables is not a list of names")


def _read_checkpoint(path: Path) -> Checkpoint:
    meta = json.loads((path / "meta.json").read_text())
    check_meta(meta)
    with np.load(path / "state.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    if sorted(arrays) != meta["variables"]:
        raise ValueError("variables listed in meta.json do not match state.npz")
    progress = meta.get("epoch_progress")
    return Checkpoint(meta["iteration"], meta["epoch"], arrays, meta["history"], path, progress)


def latest_checkpoint(run_dir: Path) -> tuple[Checkpoint | None, list[str]]:
    """The newest checkpoint that reads back whole, and a note for each damaged one passed over."""
    notes = []
    for path in reversed(_checkpoint_dirs(run_dir)):
        try:
            return _read_checkpoint(path), notes
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
            notes.append(f"checkpoint {path} is damaged ({error}); using an older one")
    return None, notes
