"""Search specs for `digitnet sweep`: pure parsing and checking, no Ray."""

from __future__ import annotations

import pytest

from digitnet.jobs.sweep import SearchSpec, SweepError, check_specs, parse_search
from digitnet.training.config import TrainConfig


def test_choices_and_ranges_are_parsed_with_the_fields_types():
    assert parse_search("lr=1e-3,3e-3") == SearchSpec("learning_rate", choices=(1e-3, 3e-3))
    assert parse_search("batch-size=32,64") == SearchSpec("batch_size", choices=(32, 64))
    assert parse_search("arch=seed,lean") == SearchSpec("arch", choices=("seed", "lean"))
    assert parse_search("dropout=0.1:0.5") == SearchSpec("dropout", low=0.1, high=0.5)
    assert parse_search("learning_rate=1e-4:1e-2:log") == SearchSpec(
        "learning_rate", low=1e-4, high=1e-2, log=True
    )
    assert parse_search("epochs=1:3") == SearchSpec("epochs", low=1, high=3)
    assert parse_search("augment=true,false").choices == (True, False)


@pytest.mark.parametrize(
    "text, message",
    [
        ("lr", "write FIELD=v1,v2"),
        ("=1,2", "write FIELD=v1,v2"),
        ("colour=1,2", "not a hyperparameter"),
        ("batch-size=32,lots", "not a int"),
        ("dropout=0.5:0.1", "lo must be below hi"),
        ("lr=0:1:log", "needs lo above 0"),
        ("lr=1:2:ln", "a range is lo:hi or lo:hi:log"),
        ("arch=a:b", "a range is lo:hi or lo:hi:log"),
        ("lr=,", "at least one value"),
    ],
)
def test_bad_specs_are_one_line_errors(text, message):
    with pytest.raises(SweepError, match=message) as caught:
        parse_search(text)
    assert "\n" not in str(caught.value)


def test_check_specs_refuses_values_that_make_a_bad_config_and_repeated_fields():
    base = TrainConfig(epochs=1)
    check_specs(base, [parse_search("lr=1e-3,1e-2"), parse_search("dropout=0:0.5")])
    with pytest.raises(SweepError, match="twice"):
        check_specs(base, [parse_search("lr=1e-3"), parse_search("lr=1e-2")])
    with pytest.raises(SweepError, match="--search"):
        check_specs(base, [])
    with pytest.raises(Exception, match="learning rate") as caught:
        check_specs(base, [parse_search("lr=1e-3,50")])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "spec", ["colour=1,2", "lr=0:1:log", "lr=1e-3,50", "arch=nonexist", "batch_size=1000000:2000000"]
)
def test_cli_sweep_refuses_a_bad_spec_in_one_line_before_anything_starts(spec, tmp_path, capsys):
    from digitnet import cli

    out = tmp_path / "sweep"
    assert cli.main(["sweep", "--out", str(out), "--search", spec, "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("digitnet: error:") and err.count("\n") == 1
    assert not out.exists()


def test_check_specs_refuses_an_unknown_network_and_a_batch_larger_than_the_training_split():
    base = TrainConfig(epochs=1)
    with pytest.raises(SweepError, match="unknown architecture 'nonexist'"):
        check_specs(base, [parse_search("arch=seed,nonexist")])
    with pytest.raises(SweepError, match="more than the 55,000 training images"):
        check_specs(base, [parse_search("batch_size=1000000:2000000")])
    check_specs(base, [parse_search("batch_size=32:55000"), parse_search("arch=seed,lean")])


# ---------------------------------------------------------------- --out: one sweep at a time


def test_a_second_sweep_into_the_same_out_is_refused_naming_the_first(tmp_path):
    import os

    from digitnet.jobs.sweep import locked_out

    out = tmp_path / "sweep"
    with locked_out(out):
        with pytest.raises(SweepError, match=f"in use by another sweep \\(PID {os.getpid()}\\)") as caught:
            with locked_out(out):
                pass
        assert "\n" not in str(caught.value)
    assert not out.exists()  # created here and left holding nothing: removed again


def test_check_out_continues_a_sweep_and_refuses_other_folders(tmp_path):
    from digitnet.jobs.sweep import check_out

    check_out(tmp_path / "new")
    (tmp_path / "interrupted" / "tune" / "sweep").mkdir(parents=True)
    check_out(tmp_path / "interrupted")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("keep")
    with pytest.raises(SweepError, match="holds no sweep to continue"):
        check_out(tmp_path / "other")
    (tmp_path / "file").write_text("x")
    with pytest.raises(SweepError, match="not a folder"):
        check_out(tmp_path / "file")


def test_sigterm_ends_a_sweep_as_ctrl_c_does(tmp_path, capsys, monkeypatch):
    import os
    import signal
    import time

    from digitnet import cli
    from digitnet.jobs import cluster

    def killed(_args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(2)
        pytest.fail("SIGTERM was not handled")

    monkeypatch.setattr(cluster, "import_ray", lambda: object())
    monkeypatch.setattr("digitnet.commands.jobs.load_data", killed)
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # without the fix: lands here, not on pytest
    try:
        code = cli.main(["sweep", "--out", str(tmp_path / "s"), "--search", "lr=1e-3,1e-2", "--epochs", "1"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 130 and "digitnet: interrupted" in capsys.readouterr().err
