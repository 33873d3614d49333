"""ModelSource: one answer to "what is MODEL" for a run, a .keras file, an ensemble and the default."""

from __future__ import annotations

import shutil

import pytest

from digitnet.reading import model_source
from digitnet.reading.ensemble_dir import EnsembleError, Manifest, Member, create_ensemble
from digitnet.reading.model_source import ModelLoadError, ModelSource, looks_like_model


def test_run_directory_and_its_model_file(tiny_model_dir):
    run = ModelSource.from_path(tiny_model_dir)
    assert (run.kind, run.model_file, run.directory) == (
        "run",
        tiny_model_dir / "model.keras",
        tiny_model_dir,
    )
    assert run.run_config()["arch"] == "seed"
    inside = ModelSource.from_path(tiny_model_dir / "model.keras")
    assert (inside.kind, inside.directory) == ("keras", tiny_model_dir)  # keeps its run's side files


def test_a_lone_keras_file_has_no_side_files(tiny_model_dir, tmp_path):
    lone = tmp_path / "digits.keras"
    shutil.copy(tiny_model_dir / "model.keras", lone)
    source = ModelSource.from_path(lone)
    assert source.directory is None and source.calibration_file is None and source.detector_dir is None


def test_side_files_are_found_when_present(tiny_model_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run)
    (run / "calibration.json").write_text("{}")
    (run / "detector").mkdir()
    source = ModelSource.from_path(run)
    assert source.calibration_file == run / "calibration.json"
    assert source.detector_dir == run / "detector"


def test_ensemble_lists_members_in_order(tiny_model_dir, tmp_path):
    directory = tmp_path / "ensemble"
    create_ensemble(directory, Manifest((Member("member-00", "seed", 0), Member("member-01", "seed", 1))))
    for name in ("member-00", "member-01"):
        shutil.copytree(tiny_model_dir, directory / name)
    source = ModelSource.from_path(directory)
    assert source.kind == "ensemble"
    assert [path.parent.name for path in source.model_files] == ["member-00", "member-01"]
    with pytest.raises(ModelLoadError, match="ensemble of 2"):
        _ = source.model_file
    shutil.rmtree(directory / "member-01")
    with pytest.raises(EnsembleError, match="member-01"):
        ModelSource.from_path(directory)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "holds no model.keras"),
        (lambda tmp: (tmp / "x.png").write_bytes(b"png") and tmp / "x.png", "not a Keras model"),
    ],
)
def test_wrong_paths_say_what_to_pass(tmp_path, make, message):
    with pytest.raises(ModelLoadError, match=message):
        ModelSource.from_path(make(tmp_path))


def test_looks_like_model_tells_models_from_images(tiny_model_dir, tmp_path):
    images = tmp_path / "scans"
    images.mkdir()
    (images / "a_3.png").write_bytes(b"")
    assert looks_like_model(tiny_model_dir) and looks_like_model(tiny_model_dir / "model.keras")
    assert looks_like_model(tmp_path / "typo.keras")  # gets a model's error, not an image's
    assert not looks_like_model(images) and not looks_like_model(images / "a_3.png")


def test_missing_default_model_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(model_source, "default_model_dir", lambda: tmp_path)
    with pytest.raises(ModelLoadError, match="no default model"):
        ModelSource.default()


def test_resolve_takes_a_source_a_path_or_none_for_the_default(tiny_model_dir, tmp_path, monkeypatch):
    run = ModelSource.from_path(tiny_model_dir)
    assert ModelSource.resolve(run) is run
    assert ModelSource.resolve(tiny_model_dir) == run
    assert ModelSource.resolve(str(tiny_model_dir)) == run
    monkeypatch.setattr(model_source, "default_model_dir", lambda: tiny_model_dir)
    assert ModelSource.resolve(None).is_default


def test_ensemble_refuses_a_run_and_says_how_to_make_an_ensemble(tiny_model_dir):
    with pytest.raises(EnsembleError, match="not an ensemble directory"):
        ModelSource.ensemble(tiny_model_dir)


def test_an_image_folder_holding_a_foreign_config_or_model_keras_is_not_a_model(tiny_model_dir, tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    (scans / "a_3.png").write_bytes(b"")
    (scans / "config.json").write_text('{"scanner": "flatbed", "dpi": 300}')
    assert not looks_like_model(scans)
    (scans / "model.keras").write_text("not a keras archive")
    (scans / "manifest.json").write_text("[1, 2]")
    assert not looks_like_model(scans)
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    assert looks_like_model(unfinished)  # a digitnet run's config: from_path says how to finish it


def test_a_model_folder_that_also_holds_images_is_named_in_a_note(tiny_model_dir, tmp_path):
    import shutil

    from digitnet.reading.model_source import split_model_and_images

    mixed = tmp_path / "mixed"
    shutil.copytree(tiny_model_dir, mixed)
    (mixed / "a_3.png").write_bytes(b"")
    model, images, note = split_model_and_images([str(mixed), "x.png"])
    assert model == mixed and images == ["x.png"]
    assert note and f"{mixed} is used as the model" in note and "--model" in note
    assert split_model_and_images([str(tiny_model_dir), "x.png"])[2] is None
    assert split_model_and_images(["x.png", "y.png"]) == (None, ["x.png", "y.png"], None)


def test_predict_on_an_image_folder_with_a_config_reads_its_images(tiny_model_dir, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from digitnet.cli import main

    scans = tmp_path / "scans"
    scans.mkdir()
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 12:16] = 255
    Image.fromarray(image).save(scans / "one.png")
    (scans / "config.json").write_text('{"scanner": "flatbed"}')
    assert main(["predict", "--model", str(tiny_model_dir), str(scans)]) == 0
    assert "one.png:" in capsys.readouterr().out
    assert not looks_like_model(scans)  # so `predict scans` reads them with the shipped model


def test_predict_on_a_folder_without_images_is_refused(tiny_model_dir, tmp_path, capsys):
    from digitnet.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["predict", "--model", str(tiny_model_dir), str(tmp_path / "empty")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("digitnet: error")]
    assert len(errors) == 1 and "no image files in this folder" in errors[0] and "it is empty" in errors[0]
