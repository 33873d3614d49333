"""Digits from handwriting fonts and MNIST digits as photos: the font split, the images, their labels."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.data import synthetic
from digitnet.data.synthetic import SyntheticError


def assert_mnist_form(images: np.ndarray, count: int) -> None:
    assert images.shape == (count, 28, 28)
    assert images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert all(image.any() for image in images), "a rendered digit came out blank"


# ---------------------------------------------------------------- the font split


def test_every_package_is_in_exactly_one_split():
    assert {package.split for package in synthetic.FONT_PACKAGES.values()} == set(synthetic.SPLITS)
    packages = [set(synthetic.packages_of(split)) for split in synthetic.SPLITS]
    assert set.union(*packages) == set(synthetic.FONT_PACKAGES)
    assert sum(map(len, packages)) == len(synthetic.FONT_PACKAGES)  # so no package is in two
    assert [len(split) for split in packages] == [14, 7, 5]


def test_the_detector_learns_from_the_training_packages_chosen_for_it():
    added = {
        name
        for name, package in synthetic.FONT_PACKAGES.items()
        if not package.detector and package.split == "train"
    }
    assert added
    assert synthetic.packages_of("train", for_detector=True) == [
        name for name in synthetic.packages_of("train") if name not in added
    ]
    detector_fonts = synthetic.font_files("train", for_detector=True)
    assert detector_fonts and set(detector_fonts) < set(synthetic.font_files("train"))
    assert synthetic.font_files("heldout", for_detector=True) == synthetic.font_files("heldout")
    # The later validation packages are for choosing recipes; the detector's validation letters
    # stay the three packages its candidates were measured on.
    assert synthetic.packages_of("validation", for_detector=True) == [
        "fonts-tlwg-purisa-ttf",
        "fonts-navilu",
        "fonts-lobster",
    ]
    images, labels = synthetic.render_digits(20, "train", seed=3, for_detector=True)
    assert_mnist_form(images, 20)
    assert labels.shape == (20,)


def test_font_files_are_existing_and_never_in_two_splits():
    files = {split: synthetic.font_files(split) for split in synthetic.SPLITS}
    assert all(files.values())
    names = [{path.name for path in split_files} for split_files in files.values()]
    assert sum(map(len, names)) == len(set.union(*names))
    for split_files in files.values():
        assert split_files == sorted(split_files)
        assert all(path.is_file() for path in split_files)


def test_font_manifest_names_each_file_its_package_and_size():
    manifest = synthetic.font_manifest("heldout")
    assert {entry["package"] for entry in manifest} == set(synthetic.packages_of("heldout"))
    used = [entry["file"] for entry in manifest if entry["used"]]
    assert used == [path.name for path in synthetic.font_files("heldout")]
    assert all(entry["bytes"] > 0 for entry in manifest)


def test_no_fonts_is_one_clear_error_naming_the_packages(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITNET_FONTS_DIR", str(tmp_path))
    with pytest.raises(SyntheticError) as caught:
        synthetic.font_files("heldout")
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path) in message
    assert "apt-get install fonts-dkg-handwriting" in message and "fonts-joscelyn" in message
    assert "make test" in message


def test_a_file_that_cannot_draw_digits_is_skipped(monkeypatch, tmp_path):
    real = synthetic.font_files("train")[0]
    folder = tmp_path / "truetype" / "breip"
    folder.mkdir(parents=True)
    (folder / "Breip.ttf").write_bytes(real.read_bytes())
    (folder / "broken.ttf").write_bytes(b"not a font at all")
    monkeypatch.setenv("DIGITNET_FONTS_DIR", str(tmp_path))
    assert [path.name for path in synthetic.font_files("train")] == ["Breip.ttf"]
    assert [entry["used"] for entry in synthetic.font_manifest("train")] == [True, False]


def test_missing_glyphs_are_detected():
    font = synthetic.font_files("train")[0]
    assert synthetic.has_glyphs(font, synthetic.DIGITS)
    assert not synthetic.has_glyphs(font, "\ue000")  # private use: no handwriting font draws it
    assert synthetic.glyph_mask(font, "\ue000") is None


def test_an_unknown_split_is_refused():
    with pytest.raises(SyntheticError, match="unknown font split 'test'"):
        synthetic.font_files("test")


# ---------------------------------------------------------------- rendered digits


@pytest.mark.parametrize("split", synthetic.SPLITS)
def test_render_digits_gives_balanced_mnist_form_digits(split):
    images, labels = synthetic.render_digits(40, split, seed=3)
    assert_mnist_form(images, 40)
    assert labels.dtype == np.int32
    assert np.array_equal(np.bincount(labels, minlength=10), np.full(10, 4))
    uneven = synthetic.render_digits(13, split, seed=3)[1]
    assert np.bincount(uneven, minlength=10).max() - np.bincount(uneven, minlength=10).min() <= 1


def test_render_digits_is_deterministic_for_a_seed_and_varies_with_it():
    first, first_labels = synthetic.render_digits(20, "train", seed=5)
    again, again_labels = synthetic.render_digits(20, "train", seed=5)
    other, _ = synthetic.render_digits(20, "train", seed=6)
    assert np.array_equal(first, again) and np.array_equal(first_labels, again_labels)
    assert not np.array_equal(first, other)


def test_no_digits_is_an_empty_set():
    images, labels = synthetic.render_digits(0)
    assert images.shape == (0, 28, 28) and labels.shape == (0,)


def test_writer_digits_come_from_one_font():
    font = synthetic.font_files("heldout")[0]
    images, labels = synthetic.writer_digits(font, 2, seed=1)
    assert_mnist_form(images, 20)
    assert np.array_equal(np.bincount(labels), np.full(10, 2))
    assert np.array_equal(images, synthetic.writer_digits(font, 2, seed=1)[0])


def test_writer_digits_refuses_a_font_without_digits(tmp_path):
    with pytest.raises(SyntheticError, match="cannot draw all of 0-9"):
        synthetic.writer_digits(tmp_path / "missing.ttf", 1)


def test_written_image_is_dark_ink_on_light_paper_larger_than_the_writing():
    rng = np.random.default_rng(0)
    font = synthetic.font_files("train")[0]
    for _ in range(10):
        page = synthetic.written_image(font, "7", rng)
        assert page.dtype == np.uint8 and min(page.shape) >= 22
        border = np.concatenate([page[0], page[-1], page[:, 0], page[:, -1]])
        assert np.median(border) > int(page.min()) + 50  # paper around, darker ink inside


# ---------------------------------------------------------------- MNIST digits as photos


def test_photo_digits_keep_the_digit_in_mnist_form(tiny_mnist):
    digits = np.zeros((6, 28, 28), np.uint8)
    digits[:, 6:22, 12:16] = 255  # an upright bar: a 1
    photos = synthetic.photo_digits(digits, seed=0)
    assert_mnist_form(photos, 6)
    assert np.array_equal(photos, synthetic.photo_digits(digits, seed=0))
    assert not np.array_equal(photos, synthetic.photo_digits(digits, seed=1))
    rows, cols = np.nonzero(photos.mean(axis=0) > 0.5)
    assert np.ptp(rows) > 2 * np.ptp(cols)  # still tall and thin


def test_photo_digits_refuses_the_wrong_shape():
    with pytest.raises(SyntheticError, match=r"\(N, 28, 28\)"):
        synthetic.photo_digits(np.zeros((2, 28, 28, 1), np.uint8))


def test_photo_image_is_a_jpeg_like_page_with_uneven_light():
    page = synthetic.photo_image(np.zeros((28, 28), np.uint8), np.random.default_rng(0))
    assert page.dtype == np.uint8 and page.shape[0] > 28
    assert np.ptp(page) > 5  # light and texture vary even on blank paper


# ---------------------------------------------------------------- the labels are right


@pytest.mark.slow
def test_a_model_trained_on_mnist_reads_held_out_font_digits(real_model_dir):
    """Proves the labels: a model that has seen only MNIST reads most digits of fonts nobody trained on.

    Measured with this 3-epoch seed network (96.3% on the first 2,000 MNIST test digits): 85.2% of
    these 500 (83.6% and 85.4% with seeds 2 and 1); a wrong label on one digit of one font would cost
    several points. Per font it ranges from Kristi's 52% to Klee's 97%: styles MNIST lacks.
    """
    from digitnet.reading.predict import Predictor

    images, labels = synthetic.render_digits(500, "heldout", seed=0)
    read = np.array([prediction.digit for prediction in Predictor(real_model_dir).predict(images[..., None])])
    accuracy = float(np.mean(read == labels))
    print(f"\nread {accuracy:.1%} of 500 held-out font digits")
    assert accuracy >= 0.80
