"""The job commands: ensemble train/evaluate and sweep."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from digitnet.commands.common import (
    Parser,
    UserError,
    add_data_dir,
    err,
    load_data,
    require_non_negative,
    require_positive,
)
from digitnet.commands.training import (
    AUGMENT_FLAGS,
    STYLE_FLAGS,
    add_augment_flags,
    add_recipe_flags,
    add_train_command,
    config_from_args,
)
from digitnet.util.shutdown import sigterm_as_keyboard_interrupt


def _train_flags(args) -> list[str]:
    """The hyperparameter flags given on this command line, to pass on to each member."""
    flags = []
    for name in (
        "recipe",
        "iterations",
        "epochs",
        "batch_size",
        "lr",
        "schedule",
        "label_smoothing",
        "dropout",
        "synthetic",
        "writer",
        *AUGMENT_FLAGS,
        *STYLE_FLAGS,
    ):
        value = getattr(args, name, None)
        if value is not None:
            flags += [f"--{name.replace('_', '-')}", str(value)]
    if getattr(args, "augment", None):
        flags.append("--augment")
    return flags


def _train_parser():
    """A parser of `digitnet train` alone: a member is what that command makes."""
    parser = Parser(prog="digitnet")
    add_train_command(parser.add_subparsers(dest="command", required=True, parser_class=Parser))
    return parser


def member_config(member, train_args: tuple[str, ...]):
    """The TrainConfig `digitnet train` builds for a new ensemble member (ensemble_runs.member_command's
    flags), validated: a member trained elsewhere (on Ray) with it gets the same weights."""
    from digitnet.reading.ensemble_dir import EnsembleError
    from digitnet.training.networks import check_arch

    command = ["train", "--arch", member.arch, "--seed", str(member.seed), *train_args]
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # argparse's own message; ours is one line
            args = _train_parser().parse_args(command)
    except SystemExit:
        raise EnsembleError(
            f"{member.name}: the manifest's train flags {' '.join(train_args)!r} are not valid "
            "`digitnet train` flags; train a new ensemble"
        ) from None
    config = config_from_args(args)
    config.validate()
    check_arch(config.arch)
    return config


@sigterm_as_keyboard_interrupt()  # members are then stopped as on Ctrl+C, each saving a checkpoint
def cmd_ensemble_train(args) -> int:
    from digitnet.jobs import ensemble as er

    require_non_negative(args.cpus_per_member, "--cpus-per-member")  # before anything is created
    require_non_negative(args.gpus_per_member, "--gpus-per-member")
    if args.shared_dir is not None and args.ray is None:
        raise UserError("--shared-dir is for Ray members; add --ray (local members already resume in --out)")
    manifest, continued = er.open_ensemble(
        args.out,
        members=args.members,
        archs=args.arch,
        base_seed=args.seed or 0,
        config=config_from_args(args, arch=None),
        train_args=_train_flags(args),
    )
    if continued:
        err(
            f"continuing the ensemble in {args.out} ({len(manifest.members)} members, "
            "its own manifest; other flags ignored)"
        )
    if args.data_dir is not None:
        load_data(args)  # a bad --data-dir fails here once, not in every member
    failed = _train_ensemble_members(args, manifest)
    if failed:
        err(
            f"members failed: {', '.join(failed)}; "
            f"{'see the Ray logs' if args.ray else f'see their .log files in {args.out}'}; "
            f"rerun `digitnet ensemble train --out {args.out}` to continue"
        )
        return 1
    print(f"ensemble ready in {args.out}: evaluate it with `digitnet ensemble evaluate {args.out}`")
    return 0


def _train_ensemble_members(args, manifest) -> list[str]:
    """The members not yet done, as local processes or (--ray) as Ray tasks; the names that failed."""
    from digitnet.jobs import ensemble as er

    if args.ray is None:
        return er.train_members(args.out, manifest, jobs=args.jobs, data_dir=args.data_dir, report=err)
    from digitnet.jobs import cluster

    return cluster.train_members_on_ray(
        args.out,
        manifest,
        args.ray,
        args.cpus_per_member,
        args.gpus_per_member,
        member_config=member_config,
        data_dir=args.data_dir,
        shared_dir=args.shared_dir,
        report=err,
    )


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
    from digitnet.jobs import cluster, sweep

    require_positive(args.trials, "--trials")
    require_non_negative(args.cpus_per_trial, "--cpus-per-trial")
    specs = [sweep.parse_search(text) for text in args.search or []]
    base = config_from_args(args)
    sweep.check_specs(base, specs)  # every bad spec fails here, before Ray or data
    sweep.check_out(args.out)  # new, empty, or an interrupted sweep to continue
    ray = cluster.import_ray()
    data = load_data(args)
    with sweep.locked_out(args.out):  # a second sweep into --out is refused
        started_here = cluster.connect(ray, args.ray)
        try:
            cluster.check_resources(ray, args.cpus_per_trial, 0, f"--cpus-per-trial {args.cpus_per_trial:g}")
            best = sweep.run_sweep(
                args.out, base, specs, trials=args.trials, data=data, cpus_per_trial=args.cpus_per_trial
            )
        finally:
            if started_here:
                cluster.disconnect(ray)
    print(f"best of {args.trials} trials: {json.dumps(best['params'])}")
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
    sweep.add_argument("--trials", type=int, default=4, help="trials drawn from the search; default 4")
    sweep.add_argument(
        "--ray", default="local", metavar="ADDRESS", help="local (default) or a Ray cluster's address"
    )
    sweep.add_argument("--cpus-per-trial", type=float, default=1, help="CPUs each trial reserves; default 1")
    sweep.add_argument("--seed", type=int, help="seed of every trial; default 0")
    add_recipe_flags(sweep)
    add_augment_flags(sweep)
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
    add_recipe_flags(ens_train, arch=False)
    add_augment_flags(ens_train)
    add_data_dir(ens_train)
    ens_train.set_defaults(handler=cmd_ensemble_train)
    ens_eval = ensemble_commands.add_parser(
        "evaluate", help="each member's test accuracy and the ensemble's under each rule"
    )
    ens_eval.add_argument("path", type=Path, metavar="DIR", help="an ensemble directory")
    ens_eval.add_argument("--json", action="store_true", help="print JSON")
    add_data_dir(ens_eval)
    ens_eval.set_defaults(handler=cmd_ensemble_evaluate)
