"""Hyperparameter sweeps with Ray Tune (ASHA): search specs, trials, and an honest selection.

    --search FIELD=v1,v2,...       a choice among values
    --search FIELD=lo:hi[:log]     a number drawn in [lo, hi] (log-uniform with :log)

Trials are chosen by validation accuracy alone: a trial never sees the test images (its test split
is the validation split). The best trial's network is measured on the test split once, after.
OUT/trials.csv has one row a trial; OUT/best.json the winner; OUT/best-run its run directory.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import shutil
import tempfile
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from digitnet.data.mnist import VALIDATION_SIZE
from digitnet.errors import DigitnetError
from digitnet.training.config import TrainConfig
from digitnet.util import locks
from digitnet.util.fileio import atomic_write_text, publish_directory

EXPERIMENT = "sweep"  # the Ray Tune experiment's folder under OUT/tune
METRIC = "validation_accuracy"
ALIASES = {
    "lr": "learning_rate",
    "iterations": "goal_iterations",
    "synthetic": "synthetic_fraction",
    "writer": "writer_fraction",
}
_TYPES = {int: int, float: float, str: str, bool: bool, int | None: int}
MNIST_TRAIN_SIZE = 60_000 - VALIDATION_SIZE  # the training split a trial's batches come from
CHECKPOINT_PERIOD_ENV = "TUNE_GLOBAL_CHECKPOINT_S"  # how often Tune saves the sweep's state (run_sweep)
CHECKPOINT_PERIOD_S = 2


class SweepError(DigitnetError):
    """A search spec or sweep that cannot work; the message says how to write it."""


@dataclass(frozen=True)
class SearchSpec:
    field: str
    choices: tuple = ()  # a choice among these, or else a range:
    low: float | None = None
    high: float | None = None
    log: bool = False


def _field_type(name: str, text: str) -> type:
    field = ALIASES.get(name.replace("-", "_"), name.replace("-", "_"))
    kind = _TYPES.get(typing.get_type_hints(TrainConfig).get(field))
    if kind is None:
        raise SweepError(f"--search {text!r}: {name!r} is not a hyperparameter (see config.py's TrainConfig)")
    return field, kind


def _convert(kind: type, value: str, text: str):
    try:
        if kind is bool:
            return {"true": True, "1": True, "false": False, "0": False}[value.lower()]
        return kind(value)
    except (KeyError, ValueError):
        raise SweepError(f"--search {text!r}: {value!r} is not a {kind.__name__}") from None


def parse_search(text: str) -> SearchSpec:
    """One --search argument as a SearchSpec; a SweepError (one line) if it is not one."""
    name, sep, values = text.partition("=")
    if not sep or not name or not values:
        raise SweepError(f"--search {text!r}: write FIELD=v1,v2,... or FIELD=lo:hi[:log]")
    field, kind = _field_type(name.strip(), text)
    if ":" not in values:
        choices = tuple(_convert(kind, v.strip(), text) for v in values.split(",") if v.strip())
        if not choices:
            raise SweepError(f"--search {text!r}: name at least one value")
        return SearchSpec(field, choices=choices)
    parts = values.split(":")
    if kind not in (int, float) or len(parts) not in (2, 3) or parts[2:] not in ([], ["log"]):
        raise SweepError(f"--search {text!r}: a range is lo:hi or lo:hi:log, of a number field")
    low, high = (_convert(kind, p.strip(), text) for p in parts[:2])
    if not low < high:
        raise SweepError(f"--search {text!r}: lo must be below hi")
    if len(parts) == 3 and low <= 0:
        raise SweepError(f"--search {text!r}: a :log range needs lo above 0")
    return SearchSpec(field, low=low, high=high, log=len(parts) == 3)


def check_specs(base: TrainConfig, specs: list[SearchSpec], train_size: int = MNIST_TRAIN_SIZE) -> None:
    """Every searched value makes a valid config, each field searched once: before anything starts.

    Checked as `digitnet train` would check it (TrainConfig.validate, a known network), and a batch
    no larger than the training split (train_size images), so no trial can fail for its values.
    """
    from digitnet.training.networks import check_arch

    fields = [spec.field for spec in specs]
    if not specs:
        raise SweepError("name what to search with --search FIELD=v1,v2,... or FIELD=lo:hi[:log]")
    if len(set(fields)) != len(fields):
        raise SweepError(f"--search names a field twice: {', '.join(fields)}")
    for spec in specs:
        for value in spec.choices or (spec.low, spec.high):
            config = dataclasses.replace(base, **{spec.field: value})
            try:
                config.validate()
                check_arch(config.arch)
            except DigitnetError as error:
                raise SweepError(f"--search {spec.field}={value}: {error}") from None
            if config.batch_size > train_size:
                raise SweepError(
                    f"--search {spec.field}={value}: a batch of {config.batch_size:,} is more than the "
                    f"{train_size:,} training images; search batch sizes up to {train_size:,}"
                )


def check_out(out: Path) -> None:
    """SweepError unless OUT is new, empty, or an interrupted sweep's folder (which is continued)."""
    out = Path(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise SweepError(f"{out} is not a folder; choose another --out")
    if out.is_dir() and _holds_files(out) and not (out / "tune" / EXPERIMENT).is_dir():
        raise SweepError(f"{out} exists and holds no sweep to continue; choose another --out")


def _holds_files(out: Path) -> bool:
    return any(item.name != locks.LOCK_FILE for item in out.iterdir())


@contextmanager
def locked_out(out: Path) -> Iterator[None]:
    """OUT checked (check_out), created and locked for the block: a second sweep into it is refused
    (SweepError naming the first's PID); the kernel drops the lock however this process ends. An
    OUT this call created that still holds nothing but its lock at the end is removed again."""
    out = Path(out)
    check_out(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        fd = locks.acquire_run_lock(out, busy_message=_busy)
    except locks.RunLockError as error:
        raise SweepError(str(error)) from None
    try:
        yield
    finally:
        if created and not _holds_files(out):
            shutil.rmtree(out, ignore_errors=True)
        locks.release_run_lock(fd)


def _busy(out: Path, pid: int | None) -> str:
    holder = f"PID {pid}" if pid is not None else "another process"
    return (
        f"{out} is in use by another sweep ({holder}); wait for it to finish or stop it, "
        "then rerun to continue"
    )


def search_space(specs: list[SearchSpec]) -> dict:
    from ray import tune

    space = {}
    for spec in specs:
        if spec.choices:
            space[spec.field] = tune.choice(list(spec.choices))
        elif isinstance(spec.low, int) and isinstance(spec.high, int):
            draw = tune.lograndint if spec.log else tune.randint
            space[spec.field] = draw(spec.low, spec.high + 1)
        else:
            draw = tune.loguniform if spec.log else tune.uniform
            space[spec.field] = draw(float(spec.low), float(spec.high))
    return space


# ---------------------------------------------------------------- a trial, on a Ray worker


def sweep_trial(params: dict, base: TrainConfig, data=None, data_dir: str | None = None) -> None:
    """Train one config; report validation accuracy each epoch, the run as a checkpoint at the end."""
    from ray import tune

    from digitnet.data.mnist import load_mnist
    from digitnet.training import loop

    config = dataclasses.replace(base, **params)
    if data is None:
        data = load_mnist(data_dir)
    data = dataclasses.replace(data, test=data.validation)  # selection never sees the test images
    pending = []

    def on_epoch(row: dict) -> None:  # one epoch late, so the last report carries the model
        if pending:
            tune.report(pending.pop())
        pending.append({METRIC: row["validation_accuracy"], "epoch": int(row["epoch"])})

    scratch = Path(tempfile.mkdtemp(prefix="digitnet-trial-"))
    try:
        loop.train(config, scratch / "run", data, on_epoch=on_epoch)
        shutil.rmtree(scratch / "run" / "checkpoints", ignore_errors=True)
        tune.report(pending.pop(), checkpoint=tune.Checkpoint.from_directory(scratch / "run"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ---------------------------------------------------------------- the driver


def run_sweep(out: Path, base: TrainConfig, specs, *, trials: int, data, cpus_per_trial: float = 1) -> dict:
    """Run the sweep into OUT on the Ray session already joined; returns best.json's content.

    data: the Mnist the trials train on (sent once) and the winner is tested on. OUT new or empty
    starts a sweep; OUT holding an unfinished one (interrupted, killed) continues it: finished
    trials are kept, unfinished and errored ones run again.
    """
    from ray import tune

    out = Path(out)
    experiment = out.resolve() / "tune" / EXPERIMENT
    trainable = tune.with_resources(
        tune.with_parameters(sweep_trial, base=base, data=data), {"cpu": cpus_per_trial}
    )
    # Tune saves which trials have finished every 10 s at best, and on a busy machine (its "auto"
    # period grows with the time a save takes) a minute or more apart: a sweep killed in between
    # reruns trials that had finished. Every 2 s keeps a killed sweep's finished trials (a save of
    # a sweep's state is a few kB). Read by Tune when the Tuner is made; a setting the user gave wins.
    os.environ.setdefault(CHECKPOINT_PERIOD_ENV, str(CHECKPOINT_PERIOD_S))
    if tune.Tuner.can_restore(str(experiment)):
        tuner = tune.Tuner.restore(str(experiment), trainable=trainable, resume_errored=True)
    elif out.exists() and _holds_files(out):
        raise SweepError(f"{out} exists and holds no sweep to continue; choose another --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        tuner = _new_tuner(out, trainable, specs, trials)
    grid = tuner.fit()
    atomic_write_text(out / "trials.csv", trials_csv(grid, specs))
    return _publish_best(out, base, grid, data)


def _new_tuner(out: Path, trainable, specs, trials: int):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    return tune.Tuner(
        trainable,
        param_space=search_space(specs),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="max",
            num_samples=trials,
            scheduler=ASHAScheduler(time_attr="epoch", max_t=10_000, grace_period=1),
        ),
        run_config=tune.RunConfig(storage_path=str(out.resolve() / "tune"), name=EXPERIMENT, verbose=0),
    )


def trials_csv(grid, specs) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["trial", *(spec.field for spec in specs), METRIC, "epochs", "seconds", "status"])
    for index, result in enumerate(grid):
        metrics = result.metrics or {}
        status = "error" if result.error else "done"
        values = [result.config.get(spec.field) for spec in specs]
        seconds = metrics.get("time_total_s", "")
        seconds = round(seconds, 1) if isinstance(seconds, float) else seconds
        writer.writerow([index, *values, metrics.get(METRIC, ""), metrics.get("epoch", ""), seconds, status])
    return buffer.getvalue()


def _publish_best(out: Path, base: TrainConfig, grid, data) -> dict:
    from digitnet.reading.predict import ProbabilityModel
    from digitnet.training.metrics import accuracy

    finished = [r for r in grid if not r.error and r.checkpoint is not None]
    if not finished:
        raise SweepError(f"no trial finished; see the Ray Tune logs in {out / 'tune'}")
    # Ties (common on small validation sets) go to the same trial however Tune orders its results
    # (a continued sweep lists them anew): the higher accuracy, then the config's sorted JSON.
    best = max(finished, key=lambda r: (r.metrics[METRIC], json.dumps(r.config, sort_keys=True)))
    staging = out / ".best-run-staging"
    shutil.rmtree(staging, ignore_errors=True)  # left by a sweep killed while publishing
    shutil.copytree(best.checkpoint.path, staging)
    publish_directory(staging, out / "best-run")
    predicted, _ = ProbabilityModel(out / "best-run", engine="keras").predict(data.test.images)
    report = {
        "params": dict(best.config),
        "validation_accuracy": best.metrics[METRIC],
        "test_accuracy": accuracy(predicted, data.test.labels),  # measured once, after selection
        "config": dataclasses.asdict(dataclasses.replace(base, **best.config)),
        "run_dir": str(out / "best-run"),
    }
    atomic_write_text(out / "best.json", json.dumps(report, indent=2) + "\n")
    return report
