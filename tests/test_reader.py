"""The reader install (`pip install digitnet`, no TensorFlow): what it runs, and that it never reaches
for the training side. Every test here is marked `reader`: `make test-reader` runs them in a venv
holding only the plain install (and pytest), so this file imports nothing of Keras or TensorFlow.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitnet.cli import main
from digitnet.reading.model_source import default_model_dir

pytestmark = pytest.mark.reader

HEAVY = "sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'})"


def copy_of_the_shipped_model(tmp_path: Path, monkeypatch) -> Path:
    """A copy of the shipped model folder that ModelSource.default() then uses."""
    from digitnet.reading import model_source

    copy = tmp_path / "default_model"
    shutil.copytree(default_model_dir(), copy)
    monkeypatch.setattr(model_source, "default_model_dir", lambda: copy)
    return copy


def _one_png(path: Path) -> Path:
    """A dark 1 on white, 112x112: what a user's scan looks like."""
    pixels = np.full((28, 28), 255, np.uint8)
    pixels[5:23, 13:16] = 0
    Image.fromarray(pixels).resize((112, 112)).save(path)
    return path


def _python(script: str, *args, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )


def _last_json(done: subprocess.CompletedProcess) -> dict:
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr
    return json.loads(lines[-1])


def test_reading_an_image_imports_no_tensorflow_or_keras(tmp_path):
    script = (
        "import sys, json; from digitnet.cli import main; code = main(['predict', sys.argv[1], '--json']); "
        f"print(json.dumps({{'code': code, 'heavy': {HEAVY}}}))"
    )
    done = _python(script, _one_png(tmp_path / "one.png"))
    assert _last_json(done) == {"code": 0, "heavy": []}, done.stderr
    assert json.loads(done.stdout.splitlines()[0])["digit"] == 1
    assert "XNNPACK" not in done.stderr  # nothing of LiteRT's own logging reaches the user


@pytest.mark.parametrize("argv", [["models"], ["card"], ["--version"], ["predict", "default", "IMAGE"]])
def test_the_reading_commands_import_no_tensorflow(tmp_path, argv):
    argv = [str(_one_png(tmp_path / "one.png")) if word == "IMAGE" else word for word in argv]
    script = (
        "import sys, json; from digitnet.cli import main\n"
        "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as stop:\n    code = stop.code\n"
        f"print(json.dumps({{'code': code, 'heavy': {HEAVY}}}))"
    )
    done = _python(script, *argv)
    assert _last_json(done) == {"code": 0, "heavy": []}, done.stderr


def test_serve_answers_without_tensorflow(tmp_path):
    script = """
import base64, json, sys, urllib.request
from digitnet.reading.predict import Predictor
from digitnet.serve.app import create_app
from digitnet.serve.model_info import describe_model
from digitnet.serve.server import serve_in_thread
predictor = Predictor()
app = create_app(predictor, model_info=describe_model(predictor.source, "mean"))
with serve_in_thread(app) as url:
    ready = urllib.request.urlopen(url + "/v2/health/ready", timeout=30).status
    body = json.dumps({"instances": [{"b64": base64.b64encode(open(sys.argv[1], "rb").read()).decode()}]})
    request = urllib.request.Request(url + "/v1/models/digitnet:predict", body.encode(),
                                     {"Content-Type": "application/json"})
    answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'})
print(json.dumps({"ready": ready, "digit": answer["predictions"][0]["digit"], "heavy": heavy}))
"""
    done = _python(script, _one_png(tmp_path / "one.png"))
    assert _last_json(done) == {"ready": 200, "digit": 1, "heavy": []}, done.stderr


@pytest.mark.parametrize("command", [["train", "--epochs", "1"], ["evaluate", "default"], ["summary"]])
def test_a_training_command_without_the_training_extra_is_one_line(command):
    # `import tensorflow` fails as on the plain install, whatever this venv holds.
    script = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
        "from digitnet.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    done = _python(script, *command)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'digitnet[train]'" in lines[0], done.stderr


def test_a_keras_file_without_litert_read_without_tensorflow_says_how_to_convert(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy2(default_model_dir() / "model.keras", folder / "model.keras")
    script = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
        "from digitnet.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    image = _one_png(tmp_path / "one.png")
    done = _python(script, "predict", folder / "model.keras", image, env={"XDG_CACHE_HOME": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'digitnet[train]'" in lines[0] and "model.keras" in lines[0]


@pytest.mark.parametrize(
    "swapped", ["model.tflite", "detector/detector.tflite", "calibration.json", "detector/detector.json"]
)
def test_a_swapped_shipped_file_is_refused_in_one_line(tmp_path, monkeypatch, capsys, swapped):
    copy = copy_of_the_shipped_model(tmp_path, monkeypatch)
    target = copy / swapped
    content = target.read_bytes()
    target.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))  # one bit
    assert main(["predict", str(_one_png(tmp_path / "one.png"))]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "does not match the SHA-256" in err and swapped.split("/")[-1] in err


def test_the_shipped_model_is_named_default(tmp_path, capsys):
    image = _one_png(tmp_path / "one.png")
    assert main(["predict", "default", str(image), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["digit"] == 1


def test_predict_into_a_pipe_closed_early_ends_quietly(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(300):  # more than one batch (100): answers are still coming when head leaves
        _one_png(folder / f"{index:03d}.png")
    done = subprocess.run(
        f"'{sys.executable}' -m digitnet predict '{folder}' | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout.startswith(f"{folder / '000.png'}: 1 ")
    assert done.stderr == ""  # no BrokenPipeError traceback, no "Exception ignored"


def test_a_folder_without_images_is_one_line_naming_what_it_skipped(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "scan.pdf").write_bytes(b"%PDF")
    assert main(["predict", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no image files" in err and "notes.txt" in err and "scan.pdf" in err


def test_show_input_never_overwrites(tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        _one_png(tmp_path / folder / "7.png")  # two inputs with the same stem
    shown = tmp_path / "shown"
    shown.mkdir()
    (shown / "7.png").write_bytes(b"mine")  # already there: kept as it is
    argv = [
        "predict",
        str(tmp_path / "a" / "7.png"),
        str(tmp_path / "b" / "7.png"),
        "--show-input",
        str(shown),
    ]
    assert main(argv) == 0
    assert sorted(p.name for p in shown.iterdir()) == ["7-2.png", "7-3.png", "7.png"]
    assert (shown / "7.png").read_bytes() == b"mine"


def test_the_python_api_reads_paths_pil_images_and_arrays_without_tensorflow(tmp_path):
    # What Python users hold, each read as `digitnet predict` reads a file: a path, a PIL image, a
    # dark-on-light uint8 array of any size, its bright-on-dark float inverse, and a batch.
    script = f"""
import json, sys
import numpy as np
from PIL import Image
import digitnet
page = np.asarray(Image.open(sys.argv[1]))  # a dark 1 on white, 112x112
inputs = [sys.argv[1], Image.open(sys.argv[1]), page, (255 - page) / 255.0, np.stack([page[::2, ::2]] * 2)]
readings = digitnet.predict_images(inputs)
blank = digitnet.Reader().read(np.zeros((40, 30), np.uint8))[0]
print(json.dumps({{"readings": [[r.source, r.digit, r.reason] for r in readings],
                   "blank": [blank.source, blank.reason], "heavy": {HEAVY}}}))
"""
    image = _one_png(tmp_path / "one.png")
    done = _python(script, image)
    assert _last_json(done) == {
        "readings": [
            [str(image), 1, "none"],
            [str(image), 1, "none"],  # a PIL image opened from a file is named by it
            ["<array 2>", 1, "none"],
            ["<array 3>", 1, "none"],
            ["<array 4>", 1, "none"],
            ["<array 5>", 1, "none"],
        ],
        "blank": ["<array 0>", "blank"],
        "heavy": [],
    }, done.stderr
    assert done.stderr == ""  # no TensorFlow or LiteRT log lines


def test_card_prints_the_shipped_models_accuracy_use_limits_and_checked_files(capsys):
    card = json.loads((default_model_dir() / "card.json").read_text())
    assert main(["card"]) == 0
    out = capsys.readouterr().out
    assert f"MNIST test {100 * card['mnist_test_accuracy']:.2f}%" in out
    assert f"MNIST validation {100 * card['mnist_validation_accuracy']:.2f}%" in out
    assert card["intended_use"] in out and all(limit in out for limit in card["limits"])
    for name, sha in [*card["sha256"].items(), *card["detector_sha256"].items()]:
        assert f"{name}" in out and f"sha256 {sha}  ok" in out, name


def test_card_says_when_a_file_does_not_match(tmp_path, monkeypatch, capsys):
    copy = copy_of_the_shipped_model(tmp_path, monkeypatch)
    (copy / "model.tflite").write_bytes(b"swapped")
    assert main(["card", "--json"]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "model.tflite" in err and "reinstall digitnet" in err
    files = {entry["file"]: entry for entry in json.loads(out)["files"]}
    assert not files["model.tflite"]["matches"] and files["model.tflite"]["bytes"] == 7
    assert files["model.keras"]["matches"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_a_long_predict_shows_a_progress_bar_on_a_terminal_only(tmp_path, monkeypatch, capsys, terminal):
    from digitnet.commands import common, reading

    monkeypatch.setattr(common, "PROGRESS_MIN_ITEMS", 2)  # "long": more than 2 images, here
    monkeypatch.setattr(reading, "PREDICT_BATCH", 1)
    stderr = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    images = [str(_one_png(tmp_path / f"{index}.png")) for index in range(3)]
    assert main(["predict", *images]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == images  # answers unmixed with the bar
    if terminal:
        drawn = stderr.getvalue()
        assert [f"{done}/3 images" in drawn for done in (1, 2, 3)] == [True] * 3
        assert drawn.endswith("\r\033[K")  # wiped at the end: the terminal keeps only the answers
    else:
        assert stderr.getvalue() == ""
    before = len(stderr.getvalue())
    assert main(["predict", *images[:2]]) == 0
    assert stderr.getvalue()[before:] == ""  # short: no bar even on a terminal


@pytest.mark.parametrize("command", ["predict", "serve", "models", "card", "data"])
def test_a_reading_command_line_is_parsed_without_the_training_side(command):
    # The train flags come from TrainConfig's fields; reading commands never build them.
    script = (
        "import sys, json; from digitnet.cli import build_parser\n"
        "build_parser(sys.argv[1]).parse_args([sys.argv[1], *sys.argv[2:]])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('digitnet.training', "
        "'digitnet.jobs', 'digitnet.commands.training', 'digitnet.commands.jobs')))))"
    )
    extra = {"predict": ["one.png"], "serve": [], "models": [], "card": [], "data": ["info"]}[command]
    done = _python(script, command, *extra)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
