"""The images a user names: folders expanded, bad files reported and the rest still read, PNGs back."""

import io

import numpy as np
from PIL import Image

from digitnet.data.inputs import expand_inputs, mnist_png, read_inputs, write_model_input


def _digit_png(path):
    pixels = np.full((60, 40), 255, np.uint8)
    pixels[10:50, 18:23] = 0  # a dark "1" on white paper
    Image.fromarray(pixels).save(path)
    return path


def test_folders_become_their_images_sorted_and_other_names_stay(tmp_path):
    folder = tmp_path / "scans"
    (folder / "inner").mkdir(parents=True)
    _digit_png(folder / "b.png")
    _digit_png(folder / "inner" / "a.JPG")
    (folder / "notes.txt").write_text("not an image")
    assert expand_inputs([str(folder), "-", "missing.png"]) == [
        str(folder / "b.png"),
        str(folder / "inner" / "a.JPG"),
        "-",
        "missing.png",
    ]


def test_a_bad_input_is_one_problem_and_the_rest_are_read(tmp_path):
    good = _digit_png(tmp_path / "one_1.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    read = read_inputs([str(good), str(broken), str(tmp_path / "nothing.png")])
    assert read.names == [str(good)]
    assert read.batch().shape == (1, 28, 28, 1)
    assert len(read.problems) == 2 and "nothing.png: no such file" in read.problems[1]
    assert read_inputs([]).batch().shape == (0, 28, 28, 1)


def test_the_model_input_is_written_as_the_png_it_was(tmp_path):
    image = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    path = write_model_input(image, tmp_path / "shown", "photos/seven.jpg")
    assert path == tmp_path / "shown" / "seven.png"
    assert path.read_bytes() == mnist_png(image)
    np.testing.assert_array_equal(
        np.asarray(Image.open(io.BytesIO(mnist_png(image)))), np.round(image * 255).astype(np.uint8)
    )
    assert write_model_input(image, tmp_path, "-").name == "stdin.png"
