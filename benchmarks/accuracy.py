"""Test accuracy of each recipe, mean ± sd over seeds, ensembles of disjoint members, training times.

    python benchmarks/accuracy.py --out runs/accuracy                      # every plan (hours)
    python benchmarks/accuracy.py --out runs/accuracy --plan strong --jobs 2

Each plan trains its networks with `digitnet ensemble train` (one member per seed, --jobs at a
time, each with its share of the cores) into OUT/<plan>; a plan whose folder exists continues
where it stopped, and finished members are only scored. Prints one JSON object.

Model selection never looks at the test set: every recipe trains a fixed number of epochs with
no early stopping, and each run's final model is what is scored. Ensembles are fixed in advance
(members 0-4 and 5-9), never picked by their test accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402


@dataclass(frozen=True)
class Plan:
    description: str
    train_flags: tuple[str, ...]  # `digitnet ensemble train` flags
    members: int
    ensembles: tuple[tuple[int, ...], ...] = ()  # disjoint groups of member indices


PLANS = {
    "tutorial": Plan(
        "the tutorial's network and recipe (batch 50, Adam 1e-4, 18 epochs)", ("--recipe", "tutorial"), 3
    ),
    "expert": Plan(
        "TensorFlow's expert network with the tutorial's recipe",
        ("--recipe", "tutorial", "--arch", "expert"),
        1,
    ),
    "seed-augment": Plan(
        "the tutorial's network and recipe, plus affine augmentation (rotate 10, shift 0.1, zoom 0.1)",
        ("--recipe", "tutorial", "--augment"),
        3,
    ),
    "strong": Plan(
        "the lean conv-BN network, strong recipe (12 epochs, batch 128, one-cycle Adam "
        "peak 3e-3, label smoothing 0.1, augmentation)",
        ("--recipe", "strong"),
        10,
        ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9)),
    ),
    "read": Plan(
        "the reading recipe: wide network, strong schedule, affine + style augmentation "
        "(elastic, stroke width, blur, low resolution, ink, occlusion), 10% training-font "
        "digits, 10% digits by training synthetic writers (every allograph equally often)",
        ("--recipe", "read"),
        3,
    ),
}


def train_plan(plan: Plan, directory: Path, jobs: int) -> None:
    command = [
        sys.executable,
        "-m",
        "digitnet",
        "ensemble",
        "train",
        "--members",
        str(plan.members),
        "--jobs",
        str(jobs),
        "--out",
        str(directory),
        *plan.train_flags,
    ]
    subprocess.run(command, check=True, stdout=sys.stderr)  # stdout carries only the JSON


def _stats(values: list[float]) -> dict:
    return {
        "mean": statistics.mean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else None,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def score_plan(plan: Plan, directory: Path, data) -> dict:
    import numpy as np

    from digitnet.jobs.evaluate import ensemble_accuracies
    from digitnet.jobs.keras_models import keras_probability_model
    from digitnet.reading.ensemble_dir import read_manifest
    from digitnet.training import runs
    from digitnet.training.metrics import accuracy

    manifest = read_manifest(directory)
    members, probabilities = [], []
    for member in manifest.members:
        run_dir = directory / member.name
        member_probabilities = keras_probability_model(run_dir).member_probabilities(data.test.images)[0]
        probabilities.append(member_probabilities)
        last = runs.read_metrics(run_dir)[-1]
        members.append(
            {
                "name": member.name,
                "arch": member.arch,
                "seed": member.seed,
                "test_accuracy": accuracy(member_probabilities.argmax(axis=1), data.test.labels),
                "validation_accuracy": last["validation_accuracy"],
                "epochs": int(last["epoch"]),
                "iterations": int(last["iteration"]),
                "train_seconds": round(last["elapsed_seconds"], 1),
            }
        )
    tests = [m["test_accuracy"] for m in members]
    report = {
        "members": members,
        "single": _stats(tests),
        "single_first_3_seeds": _stats(tests[:3]),
        "train_seconds_median": statistics.median(m["train_seconds"] for m in members),
    }
    if plan.ensembles:
        groups = []
        for indices in plan.ensembles:
            stacked = [probabilities[i] for i in indices]
            result = ensemble_accuracies(np.stack(stacked), data.test.labels)
            groups.append({"members": [members[i]["name"] for i in indices], **result["rules"]})
        report["ensembles"] = groups
        report["ensemble_mean"] = {
            rule: statistics.mean(g[rule] for g in groups) for rule in ("mean", "most_confident", "vote")
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--plan", nargs="+", choices=list(PLANS), default=list(PLANS), help="which plans; default all"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="where the runs live (kept: a rerun continues and rescores)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="members trained at once; default 2")
    args = parser.parse_args()

    from digitnet.data.mnist import load_mnist

    data = load_mnist()
    results = {}
    for name in args.plan:
        plan = PLANS[name]
        directory = args.out / name
        train_plan(plan, directory, args.jobs)
        results[name] = {
            "description": plan.description,
            "train_flags": list(plan.train_flags),
            "jobs": args.jobs,
            **score_plan(plan, directory, data),
        }
        print(json.dumps({name: results[name]["single"]}), file=sys.stderr, flush=True)
    print(
        json.dumps(
            {
                "benchmark": "accuracy",
                "machine": describe_machine(),
                "note": f"members trained {args.jobs} at a time, the cores shared between them",
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
