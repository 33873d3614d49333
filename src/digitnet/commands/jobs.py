"""The job commands: ensemble train/evaluate and sweep; each parses, makes one library call
(digitnet.jobs), prints."""

from __future__ import annotations

import json
from pathlib import Path

from digitnet.commands.common import (
    EXIT_INTERRUPTED,
    Parser,
    add_data_dir,
    err,
    load_data,
)
from digitnet.training.flags import add_config_flags, config_from_args
from digitnet.util.shutdown import sigterm_as_keyboard_interrupt


@sigterm_as_keyboard_interrupt()  # members are then stopped as on Ctrl+C, each saving a checkpoint
def cmd_ensemble_train(args) -> int:
    from digitnet.jobs.ensemble import train_ensemble

    outcome = train_ensemble(
        args.out,
        members=args.members,
        archs=args.arch,
        base_seed=args.seed or 0,
        config=config_from_args(args, arch=None, seed=None),
        jobs=args.jobs,
        ray=args.ray,
        cpus_per_member=args.cpus_per_member,
        gpus_per_member=args.gpus_per_member,
        shared_dir=args.shared_dir,
        data_dir=args.data_dir,
        report=err,
    )
    if outcome.failed:
        err(
            f"members failed: {', '.join(outcome.failed)}; "
            f"{'see the Ray logs' if args.ray else f'see their .log files in {args.out}'}; "
            f"rerun `digitnet ensemble train --out {args.out}` to continue"
        )
        return 1
    print(f"ensemble ready in {args.out}: evaluate it with `digitnet ensemble evaluate {args.out}`")
    return 0


def cmd_ensemble_evaluate(args) -> int:
    from digitnet.jobs.evaluate import evaluate_ensemble
    from digitnet.reading.model_source import ModelSource

    source = ModelSource.ensemble(args.path)  # not a whole ensemble: fails before data is loaded
    data = load_data(args)
    report = evaluate_ensemble(source, data.test)
    if args.json:
        print(json.dumps({"ensemble": str(args.path), **report}, indent=2))
        return 0
    for member in report["members"]:
        print(
            f"{member['name']} ({member['arch']}, seed {member['seed']}): "
            f"test accuracy {member['test_accuracy']:.4f}"
        )
    for rule, accuracy in report["rules"].items():
        print(f"ensemble, {rule}: test accuracy {accuracy:.4f}")
    return 0


@sigterm_as_keyboard_interrupt()  # `kill` ends it as Ctrl+C does; a rerun continues it
def cmd_sweep(args) -> int:
    from digitnet.jobs import sweep

    try:
        best = sweep.run_sweep(
            args.out,
            config_from_args(args),
            [sweep.parse_search(text) for text in args.search or []],
            samples=args.trials,
            address=args.ray,
            cpus_per_trial=args.cpus_per_trial,
            load_data=lambda: load_data(args),
            report=err,
        )
    except sweep.SweepInterrupted as interrupted:
        err(f"\n{interrupted}")
        return EXIT_INTERRUPTED
    print(f"best of {best['trials']} trials: {json.dumps(best['params'])}")
    print(f"validation accuracy: {best['validation_accuracy']:.4f}")
    print(f"test accuracy (measured once, after selection): {best['test_accuracy']:.4f}")
    print(f"trials: {args.out / 'trials.csv'}; best: {args.out / 'best.json'}, {best['run_dir']}")
    return 0


def add_sweep_command(commands) -> None:
    sweep = commands.add_parser("sweep", help="search hyperparameters with Ray Tune (ASHA)")
    sweep.add_argument(
        "--out",
        type=Path,
        required=True,
        help="a new folder for trials.csv and best.json, or an interrupted sweep's folder to continue it",
    )
    sweep.add_argument(
        "--search",
        action="append",
        metavar="SPEC",
        help="FIELD=v1,v2,... (a choice) or FIELD=lo:hi[:log] (a range); repeat for more fields",
    )
    sweep.add_argument(
        "--trials",
        type=int,
        help="trials drawn at random from the search; default: every combination once when only "
        "choices are searched (a grid), else 4",
    )
    sweep.add_argument(
        "--ray", default="local", metavar="ADDRESS", help="local (default) or a Ray cluster's address"
    )
    sweep.add_argument("--cpus-per-trial", type=float, default=1, help="CPUs each trial reserves; default 1")
    add_config_flags(sweep)  # the base config every trial starts from
    add_data_dir(sweep)
    sweep.set_defaults(handler=cmd_sweep)


def add_ensemble_commands(commands) -> None:
    ensemble = commands.add_parser("ensemble", help="several networks that predict together")
    ensemble_commands = ensemble.add_subparsers(dest="ensemble_command", required=True, parser_class=Parser)
    ens_train = ensemble_commands.add_parser(
        "train", help="train N members with different seeds (continues an interrupted ensemble)"
    )
    ens_train.add_argument("--members", type=int, default=5, help="how many networks; default 5")
    ens_train.add_argument(
        "--arch",
        default=None,
        help="network, or a comma-separated list assigned in turn; default the recipe's (seed)",
    )
    ens_train.add_argument("--out", type=Path, required=True, help="the ensemble directory")
    ens_train.add_argument(
        "--jobs", type=int, default=1, help="members trained at once, sharing the cores; default 1"
    )
    ens_train.add_argument("--seed", type=int, help="first member's seed (others count up); default 0")
    ens_train.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="train the members as Ray tasks: on a Ray cluster started here (`--ray` or `--ray local`) "
        "or on the cluster at ADDRESS (e.g. ray://head:10001); needs `pip install 'digitnet[cluster]'`",
    )
    ens_train.add_argument(
        "--cpus-per-member", type=float, default=1, help="CPUs Ray reserves for each member; default 1"
    )
    ens_train.add_argument(
        "--gpus-per-member", type=float, default=0, help="GPUs Ray reserves for each member; default 0"
    )
    ens_train.add_argument(
        "--shared-dir",
        type=Path,
        metavar="DIR",
        help="with --ray: a folder every node mounts at the same path; members train (and checkpoint) "
        "in DIR/<ensemble name>/member-XX, so a retried member resumes instead of starting over",
    )
    add_config_flags(ens_train, skip=("arch", "seed"))  # the members' own: --arch, --seed above
    add_data_dir(ens_train)
    ens_train.set_defaults(handler=cmd_ensemble_train)
    ens_eval = ensemble_commands.add_parser(
        "evaluate", help="each member's test accuracy and the ensemble's under each rule"
    )
    ens_eval.add_argument("path", type=Path, metavar="DIR", help="an ensemble directory")
    ens_eval.add_argument("--json", action="store_true", help="print JSON")
    add_data_dir(ens_eval)
    ens_eval.set_defaults(handler=cmd_ensemble_evaluate)
