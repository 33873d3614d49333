"""Fine-tuning to one writer: reading the examples folder, the CLI end to end, and one real-data check."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_mnist, synthetic_split
from digitnet.cli import main
from digitnet.jobs import finetune as ft
from digitnet.reading.model_source import ModelSource
from digitnet.util.fileio import file_sha256

STEPS = "6"  # a few steps: the tests check plumbing, not how well it adapts


def save_png(path: Path, pixels: np.ndarray) -> None:
    Image.fromarray(np.round(np.asarray(pixels).reshape(28, 28) * 255).astype(np.uint8)).save(path)


def write_examples(folder: Path, count: int = 12) -> Path:
    """`count` bar digits (conftest's synthetic kind, on black) as ex<i>_<digit>.png; digit = i % 10."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        label = index % 10
        image = np.zeros((28, 28), np.float32)
        image[2 * label : 2 * label + 6, 4:24] = 1.0
        save_png(folder / f"ex{index:02d}_{label}.png", image)
    return folder


def weights_of(path: Path) -> list[np.ndarray]:
    from digitnet.jobs.keras_models import load_model

    return [np.asarray(w) for w in load_model(path).get_weights()]


@pytest.fixture
def synthetic_data(monkeypatch):
    """The CLI replays and measures on the tiny synthetic set instead of loading real MNIST."""
    data = synthetic_mnist()
    monkeypatch.setattr("digitnet.commands.training.load_data", lambda args: data)
    return data


def run_finetune(examples: Path, out: Path, model: Path, *extra: str) -> int:
    return main(
        ["finetune", str(examples), "--out", str(out), "--model", str(model), "--steps", STEPS, *extra]
    )


# ---------------------------------------------------------------- the CLI end to end


def test_finetune_writes_a_model_that_predict_loads_with_changed_weights(
    tmp_path, tiny_model_dir, synthetic_data, capsys
):
    from digitnet.reading.predict import Predictor

    examples = write_examples(tmp_path / "writer")
    out = tmp_path / "adapted"
    assert run_finetune(examples, out, tiny_model_dir) == 0
    printed = capsys.readouterr().out
    assert "examples: 12 (0: 2, 1: 2, 2: 1" in printed
    assert "accuracy on the examples it trained on:" in printed and "MNIST test accuracy:" in printed
    assert "accuracy on held-out examples: not measured: no digit has 3 or more" in printed  # 1-2 each
    assert f"model: {out}" in printed

    written = ["config.json", "finetune.json", "model.keras", "model.tflite", "model.tflite.json"]
    assert sorted(p.name for p in out.iterdir()) == written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left
    record = json.loads((out / "finetune.json").read_text())
    assert record["steps"] == int(STEPS) and record["seed"] == 0 and record["examples"] == 12
    assert record["examples_per_digit"]["0"] == 2 and record["examples_per_digit"]["9"] == 1
    assert record["source_sha256"] == file_sha256(tiny_model_dir / "model.keras")
    assert record["mnist_test_accuracy_before"] is not None
    assert record["held_out"] is None and "not measured" in record["held_out_reason"]
    assert record["calibration_refitted"] is False
    assert (out / "config.json").read_bytes() == (tiny_model_dir / "config.json").read_bytes()

    before, after = weights_of(tiny_model_dir), weights_of(out)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    images = synthetic_split(3, seed=9).images
    from digitnet.jobs.keras_models import convert_for_reading

    assert out / "model.keras" not in convert_for_reading(out)  # it carries its LiteRT file
    assert len(Predictor(out, use_detector=False).predict(images)) == 3


def test_no_mnist_check_skips_the_measurement(tmp_path, tiny_model_dir, synthetic_data, capsys):
    assert (
        run_finetune(write_examples(tmp_path / "w"), tmp_path / "o", tiny_model_dir, "--no-mnist-check") == 0
    )
    assert "MNIST test accuracy" not in capsys.readouterr().out
    assert json.loads((tmp_path / "o" / "finetune.json").read_text())["mnist_test_accuracy_after"] is None


def test_same_seed_same_weights_other_seed_other_weights(tmp_path, tiny_model_dir):
    examples = ft.load_examples(write_examples(tmp_path / "writer"))
    data = synthetic_mnist()
    runs = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        ft.finetune(
            tiny_model_dir, examples, tmp_path / name, mnist=data, seed=seed, steps=5, check_mnist=False
        )
        runs[name] = weights_of(tmp_path / name)
    assert all(np.array_equal(a, b) for a, b in zip(runs["a"], runs["b"]))
    assert any(not np.array_equal(a, c) for a, c in zip(runs["a"], runs["c"]))


def test_source_run_calibration_and_detector_are_copied(tmp_path, tiny_model_dir):
    import shutil

    source = tmp_path / "source"
    shutil.copytree(tiny_model_dir, source)
    (source / "calibration.json").write_text('{"temperature": 1.5}')
    (source / "detector").mkdir()
    (source / "detector" / "detector.json").write_text("{}")
    (source / "detector" / "detector.keras").write_bytes(b"the detector's network")
    examples = ft.load_examples(write_examples(tmp_path / "writer"))
    ft.finetune(source / "model.keras", examples, tmp_path / "out", steps=2)
    assert (tmp_path / "out" / "calibration.json").read_text() == '{"temperature": 1.5}'
    assert (tmp_path / "out" / "detector" / "detector.json").is_file()
    assert (tmp_path / "out" / "detector" / "detector.keras").read_bytes() == b"the detector's network"


def test_a_detector_with_only_its_litert_file_travels_and_reads(tmp_path, tiny_model_dir, monkeypatch):
    """As the shipped model's does (its package keeps detector.tflite, not detector.keras): the
    tuned model reads with that detector as its own, whatever detector is cached."""
    import shutil

    from digitnet.reading import detector
    from digitnet.reading.model_source import default_model_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tmp_path / "source"
    shutil.copytree(tiny_model_dir, source)
    shutil.copytree(default_model_dir() / "detector", source / "detector")
    assert not (source / "detector" / detector.MODEL_FILE).exists()
    examples = ft.load_examples(write_examples(tmp_path / "writer"))
    ft.finetune(source, examples, tmp_path / "out", steps=2)
    tuned = detector.find_detector(ModelSource.from_path(tmp_path / "out"))
    assert tuned.origin == "own" and tuned.source == tmp_path / "out" / "detector" / detector.LITERT_FILE
    shipped = detector.load_shipped_detector()
    assert tuned.threshold == shipped.threshold
    images = np.random.default_rng(0).random((16, 28, 28, 1), dtype=np.float32)
    np.testing.assert_array_equal(tuned.scores(images), shipped.scores(images))


def test_batch_norm_statistics_stay_frozen_and_layers_are_saved_trainable(tmp_path):
    import keras

    from digitnet.training.networks import build_model
    from digitnet.util.fileio import atomic_save_keras

    source = atomic_save_keras(build_model("lean", seed=0), tmp_path / "lean.keras")
    examples = ft.load_examples(write_examples(tmp_path / "writer"))
    ft.finetune(source, examples, tmp_path / "out", mnist=synthetic_mnist(), steps=3)

    def batch_norms(path):
        from digitnet.jobs.keras_models import load_model

        return [
            layer for layer in load_model(path).layers if isinstance(layer, keras.layers.BatchNormalization)
        ]

    before, after = batch_norms(source), batch_norms(tmp_path / "out")
    assert before and all(layer.trainable for layer in after)
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old.moving_mean, new.moving_mean)
        np.testing.assert_array_equal(old.moving_variance, new.moving_variance)


# ---------------------------------------------------------------- labels.csv


def test_labels_csv_labels_the_images(tmp_path, tiny_model_dir, synthetic_data):
    folder = tmp_path / "writer"
    folder.mkdir()
    rows = ["file,label"]
    for index in range(10):
        image = np.zeros((28, 28), np.float32)
        image[6:22, 8 + index : 12 + index] = 1.0
        save_png(folder / f"scan{index}.png", image)
        rows.append(f"scan{index}.png,{(index * 3) % 10}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    examples = ft.load_examples(folder)
    assert dict(zip(examples.names, examples.labels.tolist()))["scan3.png"] == 9
    assert examples.per_digit() == [1] * 10
    assert run_finetune(folder, tmp_path / "out", tiny_model_dir) == 0


# ---------------------------------------------------------------- bad examples: one line each, exit 2


def _bad_bytes(folder: Path) -> str:
    (folder / "broken_4.png").write_bytes(b"not really a png")
    return "broken_4.png"


def _text_file(folder: Path) -> str:
    (folder / "notes.txt").write_text("my digits")
    return "notes.txt"


def _no_label(folder: Path) -> str:
    save_png(folder / "nolabel.png", np.eye(28))
    return "nolabel.png"


def _label_out_of_range(folder: Path) -> str:
    save_png(folder / "big_12.png", np.eye(28))
    return "big_12.png"


def _blank(folder: Path) -> str:
    save_png(folder / "empty_3.png", np.zeros((28, 28)))
    return "empty_3.png"


def _csv_missing_file(folder: Path) -> str:
    rows = [f"{p.name},{p.stem[-1]}" for p in sorted(folder.glob("*.png"))]
    (folder / "labels.csv").write_text("\n".join(rows + ["gone_1.png,1"]) + "\n")
    return "gone_1.png"


def _csv_duplicate_row(folder: Path) -> str:
    rows = [f"{p.name},{p.stem[-1]}" for p in sorted(folder.glob("*.png"))]
    (folder / "labels.csv").write_text("\n".join(rows + [rows[0]]) + "\n")
    return rows[0].split(",")[0]


@pytest.mark.parametrize(
    "spoil",
    [_bad_bytes, _text_file, _no_label, _label_out_of_range, _blank, _csv_missing_file, _csv_duplicate_row],
)
def test_each_bad_example_is_named_on_one_line_and_nothing_is_written(
    spoil, tmp_path, tiny_model_dir, synthetic_data, capsys
):
    folder = write_examples(tmp_path / "writer")
    name = spoil(folder)
    out = tmp_path / "out"
    assert run_finetune(folder, out, tiny_model_dir) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and lines[0].startswith("digitnet: error: "), lines
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["writer"]


def test_every_problem_is_reported_at_once(tmp_path):
    folder = write_examples(tmp_path / "writer")
    _no_label(folder)
    _bad_bytes(folder)
    with pytest.raises(ft.ExamplesError) as raised:
        ft.load_examples(folder)
    assert len(raised.value.problems) == 2
    assert any("nolabel.png" in line for line in raised.value.problems)
    assert any("broken_4.png" in line for line in raised.value.problems)


def test_too_few_examples_is_one_line(tmp_path, tiny_model_dir, synthetic_data, capsys):
    folder = write_examples(tmp_path / "writer", count=ft.MIN_EXAMPLES - 1)
    assert run_finetune(folder, tmp_path / "out", tiny_model_dir) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"at least {ft.MIN_EXAMPLES}" in lines[0]
    assert not (tmp_path / "out").exists()


def test_a_non_empty_out_is_refused(tmp_path, tiny_model_dir, synthetic_data, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert run_finetune(write_examples(tmp_path / "writer"), out, tiny_model_dir) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_without_model_and_no_shipped_one_is_one_clear_error(tmp_path, synthetic_data, capsys, monkeypatch):
    from digitnet.reading import model_source

    monkeypatch.setattr(model_source, "default_model_dir", lambda: tmp_path / "nothing-shipped")
    code = main(["finetune", str(write_examples(tmp_path / "writer")), "--out", str(tmp_path / "o")])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("digitnet: error: no default model is shipped") and "\n" not in error
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- real data


def thickened(images: np.ndarray) -> np.ndarray:
    """A writer with a broad pen: each pixel the maximum of its 3x3 neighbourhood."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    return np.max([padded[:, r : r + 28, c : c + 28] for r in range(3) for c in range(3)], axis=0)


@pytest.mark.slow
def test_adapts_to_a_broad_pen_without_forgetting_mnist(tmp_path, real_model_dir, real_mnist):
    test = real_mnist.test
    chosen = np.concatenate([np.nonzero(test.labels == digit)[0][:5] for digit in range(10)])
    folder = tmp_path / "writer"
    folder.mkdir()
    for index in chosen:
        save_png(
            folder / f"t{index:05d}_{test.labels[index]}.png",
            thickened(test.images[index : index + 1, ..., 0]),
        )
    result = ft.finetune(real_model_dir, ft.load_examples(folder), tmp_path / "out", mnist=real_mnist)
    print(
        f"writer {result.writer_accuracy_before:.4f} -> {result.writer_accuracy_after:.4f}, MNIST test "
        f"{result.mnist_test_accuracy_before:.4f} -> {result.mnist_test_accuracy_after:.4f}, "
        f"{result.seconds:.1f} s"
    )
    assert result.writer_accuracy_after >= result.writer_accuracy_before
    assert result.mnist_test_accuracy_after >= result.mnist_test_accuracy_before - 0.005
    assert result.seconds < 60


# ---------------------------------------------------------------- a tampered source folder


@pytest.mark.parametrize("linked", ["config.json", "calibration.json", "detector"])
def test_a_symbolic_link_in_the_source_folder_is_refused_before_training(
    linked, tmp_path, tiny_model_dir, synthetic_data, capsys
):
    import shutil

    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "detector.json").write_text("PRIVATE KEY")
    (secret / "shadow").write_text("root:SECRET")
    source = tmp_path / "source"
    shutil.copytree(tiny_model_dir, source)
    (source / linked).unlink(missing_ok=True)
    (source / linked).symlink_to(secret if linked == "detector" else secret / "shadow")
    out = tmp_path / "out"
    assert run_finetune(write_examples(tmp_path / "writer"), out, source) == 2
    error = capsys.readouterr().err.strip()
    assert "symbolic link" in error and "\n" not in error and str(source / linked) in error
    assert not out.exists()


def test_only_a_models_own_files_are_copied(tmp_path, tiny_model_dir):
    import shutil

    source = tmp_path / "source"
    shutil.copytree(tiny_model_dir, source)
    (source / "detector").mkdir()
    (source / "detector" / "detector.json").write_text("{}")
    (source / "detector" / "detector.keras").write_bytes(b"the detector's network")
    (source / "detector" / "id_rsa").write_text("PRIVATE KEY")
    (source / "notes.txt").write_text("not part of a model")
    examples = ft.load_examples(write_examples(tmp_path / "writer"))
    ft.finetune(source, examples, tmp_path / "out", steps=2)
    copied = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*"))
    own = [
        "config.json",
        "detector",
        "detector/detector.json",
        "detector/detector.keras",
        "finetune.json",
        "model.keras",
    ]
    assert copied == [*own, "model.tflite", "model.tflite.json"]  # and the tuned network's LiteRT file


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--seed", "-1"], "--seed must be"),
        (["--seed", "99999999999"], "--seed must be"),
        (["--steps", "10000000000"], "--steps must be"),
        (["--steps", "0"], "--steps must be"),
    ],
)
def test_impossible_seed_or_steps_is_one_line_before_anything_loads(
    flags, says, tmp_path, tiny_model_dir, capsys, monkeypatch
):
    monkeypatch.setattr("digitnet.commands.training.load_data", lambda args: pytest.fail("loaded MNIST"))
    examples = write_examples(tmp_path / "writer")
    code = main(
        ["finetune", str(examples), "--out", str(tmp_path / "out"), "--model", str(tiny_model_dir), *flags]
    )
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.startswith(f"digitnet: error: {says}") and "\n" not in error
    assert not (tmp_path / "out").exists()


def test_an_out_that_is_a_symbolic_link_is_refused_before_training(
    tmp_path, tiny_model_dir, capsys, monkeypatch
):
    monkeypatch.setattr("digitnet.commands.training.load_data", lambda args: pytest.fail("loaded MNIST"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "empty")
    assert run_finetune(write_examples(tmp_path / "writer"), tmp_path / "out", tiny_model_dir) == 2
    error = capsys.readouterr().err.strip()
    assert "is a symbolic link" in error and "\n" not in error
    assert list((tmp_path / "empty").iterdir()) == []


# ---------------------------------------------------------------- labels.csv names only this folder's files


@pytest.mark.parametrize("row", ["../outside_7.png,7", "/etc/passwd,7", "sub/inner_7.png,7", "..,7"])
def test_labels_csv_naming_anything_outside_examples_is_one_line(row, tmp_path):
    folder = write_examples(tmp_path / "writer")
    save_png(tmp_path / "outside_7.png", np.eye(28))  # would be trained on if the row were followed
    (folder / "sub").mkdir()
    save_png(folder / "sub" / "inner_7.png", np.eye(28))
    rows = [f"{p.name},{p.stem[-1]}" for p in sorted(folder.glob("*.png"))]
    (folder / "labels.csv").write_text("\n".join([*rows, row]) + "\n")
    with pytest.raises(ft.ExamplesError) as raised:
        ft.load_examples(folder)
    assert len(raised.value.problems) == 1
    assert "is not a file name in" in raised.value.problems[0]


def test_a_flood_of_problems_shows_the_first_few_and_a_count(
    tmp_path, tiny_model_dir, synthetic_data, capsys
):
    folder = write_examples(tmp_path / "writer")
    rows = [f"{p.name},{p.stem[-1]}" for p in sorted(folder.glob("*.png"))]
    missing = [f"gone{index}_1.png,1" for index in range(5000)]
    (folder / "labels.csv").write_text("\n".join(rows + missing) + "\n")
    assert run_finetune(folder, tmp_path / "out", tiny_model_dir) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == ft.PROBLEMS_SHOWN + 2
    assert lines[-2] == f"digitnet: error: ... and {5000 - ft.PROBLEMS_SHOWN:,} more"
    assert lines[-1] == f"digitnet: 5,000 problems in {folder}; nothing was written"


def test_an_oversized_labels_csv_is_refused_unread(tmp_path):
    folder = write_examples(tmp_path / "writer")
    (folder / "labels.csv").write_text("x" * (ft.MAX_LABELS_BYTES + 1))
    with pytest.raises(ft.ExamplesError) as raised:
        ft.load_examples(folder)
    assert "labels.csv is over 4 MB" in raised.value.problems[0]


# ---------------------------------------------------------------- leftovers and SIGTERM


def test_staging_left_by_a_killed_finetune_is_removed_and_a_live_ones_kept(tmp_path, tiny_model_dir):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"{ft.staging_prefix(tmp_path / 'out', dead.pid)}abc123"
    live = tmp_path / f"{ft.staging_prefix(tmp_path / 'out', os.getpid())}def456"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "model.keras").write_bytes(b"half")
    examples = ft.load_examples(write_examples(tmp_path / "writer"))
    ft.finetune(tiny_model_dir, examples, tmp_path / "out", steps=2)
    assert not stale.exists() and live.is_dir()
    assert (tmp_path / "out" / "model.keras").is_file()


def test_sigterm_ends_finetune_as_ctrl_c_does(tmp_path, tiny_model_dir, synthetic_data, capsys, monkeypatch):
    import signal
    import time

    def killed(*_args, **_kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(2)  # the handler raises KeyboardInterrupt before this ends
        pytest.fail("SIGTERM was not handled")

    def ignored(*_args):  # without the fix SIGTERM lands here, not on pytest itself
        pass

    monkeypatch.setattr(ft, "finetune", killed)
    previous = signal.signal(signal.SIGTERM, ignored)
    try:
        code = run_finetune(write_examples(tmp_path / "writer"), tmp_path / "out", tiny_model_dir)
        assert signal.getsignal(signal.SIGTERM) is ignored  # the CLI's handler is gone again
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 130 and "digitnet: interrupted" in capsys.readouterr().err


def test_a_labels_csv_name_too_long_for_the_system_is_one_line(tmp_path):
    folder = write_examples(tmp_path / "writer")
    rows = [f"{p.name},{p.stem[-1]}" for p in sorted(folder.glob("*.png"))]
    (folder / "labels.csv").write_text("\n".join([*rows, "a" * 300 + "_3.png,3"]) + "\n")
    with pytest.raises(ft.ExamplesError) as raised:  # found by benchmarks/fuzz.py: was an OSError
        ft.load_examples(folder)
    assert len(raised.value.problems) == 1 and "does not exist" in raised.value.problems[0]


def test_the_source_detectors_litert_file_travels_bound_to_its_copy(tmp_path):
    from digitnet.jobs.finetune import _bind_detector_litert
    from digitnet.layout import read_litert_beside

    staging = tmp_path / "staging"
    (staging / "detector").mkdir(parents=True)
    (staging / "detector" / "detector.keras").write_bytes(b"the detector's weights")
    (staging / "detector" / "detector.tflite").write_bytes(b"its flatbuffer")  # as copied
    _bind_detector_litert(staging)
    assert read_litert_beside(staging / "detector" / "detector.keras") == b"its flatbuffer"
    (staging / "detector" / "detector.keras").write_bytes(b"other weights")  # a later swap is not trusted
    assert read_litert_beside(staging / "detector" / "detector.keras") is None


# ---------------------------------------------------------------- accuracy on examples it did not train on


def test_the_held_out_split_is_stratified_disjoint_and_seeded():
    from digitnet.jobs.finetune_check import heldout_count, heldout_split

    assert [heldout_count(n, 0.2) for n in (1, 2, 3, 5, 8, 10, 20)] == [0, 0, 1, 1, 2, 2, 4]
    assert heldout_count(3, 0.5) == 2 and heldout_count(10, 0.0) == 0
    labels = np.repeat(np.arange(10), [10, 10, 5, 5, 3, 3, 2, 2, 1, 20])
    training, held = heldout_split(labels, 0.2, seed=4)
    assert np.bincount(labels[held], minlength=10).tolist() == [2, 2, 1, 1, 1, 1, 0, 0, 0, 4]
    assert not set(training) & set(held) and len(training) + len(held) == len(labels)
    assert np.array_equal(heldout_split(labels, 0.2, seed=4)[1], held)
    assert not np.array_equal(heldout_split(labels, 0.2, seed=5)[1], held)


def test_doubt_figures_and_the_calibration_choice():
    from digitnet.jobs.finetune_check import calibration_choice, doubt_figures

    reasons = np.array(["none", "unsure", "none", "not-a-digit", "none"], dtype=object)
    correct = np.array([True, True, True, False, False])
    assert doubt_figures(reasons, correct) == {
        "right": 3,
        "wrong": 2,
        "right_flagged_count": 1,
        "wrong_caught_count": 1,
        "right_flagged": pytest.approx(1 / 3),
        "wrong_caught": 0.5,
    }
    assert doubt_figures(reasons[:1], correct[:1])["wrong_caught"] is None
    assert calibration_choice(40, 10) == (False, calibration_choice(40, 10)[1])
    assert "too few" in calibration_choice(40, 10)[1] and "kept" in calibration_choice(500, 2)[1]
    assert calibration_choice(100, 5)[0] is True


def test_finetune_scores_held_out_examples_and_keeps_the_calibration_of_a_small_set(
    tmp_path, tiny_model_dir, synthetic_data, capsys
):
    import shutil

    source = tmp_path / "source"
    shutil.copytree(tiny_model_dir, source)
    (source / "calibration.json").write_text('{"temperature": 1.5, "confidence_threshold": 0.6}')
    examples = write_examples(tmp_path / "writer", count=30)  # 3 a digit: one of each held out
    assert run_finetune(examples, tmp_path / "out", source) == 0
    printed = capsys.readouterr().out
    assert "accuracy on held-out examples: " in printed and "(10 examples it did not train on" in printed
    assert "scored by a copy tuned on the other 20)" in printed
    import re

    doubt_line = re.search(r"doubt on held-out examples: flags (\d+) of (\d+) right answers, (.*)", printed)
    assert doubt_line and int(doubt_line[1]) <= int(doubt_line[2]) <= 10
    assert "calibration: the source's calibration is kept: 10 held-out examples" in printed
    record = json.loads((tmp_path / "out" / "finetune.json").read_text())
    check = record["held_out"]
    assert check["examples"] == 10 and check["trained_on"] == 20 and check["examples_per_digit"] == [1] * 10
    assert check["doubt"]["right"] + check["doubt"]["wrong"] == 10
    assert 0.0 <= check["accuracy_after"] <= 1.0 and record["calibration_refitted"] is False
    assert check["temperature_before"] == check["temperature_after"] == 1.5
    assert (tmp_path / "out" / "calibration.json").read_text() == (source / "calibration.json").read_text()
    assert record["writer_accuracy_after"] is not None  # the trained-on figure is kept beside it


def test_a_big_held_out_set_with_errors_refits_the_temperature(tmp_path, tiny_model_dir):
    from digitnet.reading.calibration import load_calibration

    split = synthetic_split(600, seed=11)  # about 120 held out
    labels = split.labels.astype(np.int32).copy()
    labels[::4] = (labels[::4] + 3) % 10  # a quarter mislabelled: wrong answers to fit the temperature on
    examples = ft.Examples(split.images, labels, tuple(f"e{i}" for i in range(len(labels))))
    result = ft.finetune(tiny_model_dir, examples, tmp_path / "out", steps=3, seed=0)
    assert result.held_out.examples >= 100 and result.held_out.doubt["wrong"] >= 5
    assert result.calibration_refitted and "refitted on the" in result.calibration_reason
    written = load_calibration(tmp_path / "out" / "calibration.json")
    assert written.temperature == pytest.approx(result.held_out.temperature_after)
    assert "held-out examples" in written.fitted_on
    record = json.loads((tmp_path / "out" / "finetune.json").read_text())
    assert record["calibration_refitted"] is True and record["held_out"]["temperature_before"] == 1.0


def test_holdout_zero_skips_the_check_and_a_wrong_share_is_one_line(
    tmp_path, tiny_model_dir, synthetic_data, capsys
):
    examples = write_examples(tmp_path / "writer", count=30)
    assert run_finetune(examples, tmp_path / "out", tiny_model_dir, "--holdout", "0") == 0
    assert "accuracy on held-out examples: not measured: --holdout 0" in capsys.readouterr().out
    assert run_finetune(examples, tmp_path / "out2", tiny_model_dir, "--holdout", "0.9") == 2
    assert "--holdout must be from 0" in capsys.readouterr().err
