"""The package root is the API: its names, imported lazily, and the README's example, run as written."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import digitnet

README = Path(__file__).resolve().parents[1] / "README.md"


def test_import_digitnet_loads_no_tensorflow_and_offers_the_api():
    code = (
        "import sys, digitnet\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported at once'\n"
        "names = [digitnet.load_mnist, digitnet.TrainConfig, digitnet.recipe_config, digitnet.Predictor,\n"
        "         digitnet.ModelSource, digitnet.predict_images, digitnet.Reader, digitnet.__version__]\n"
        "assert 'tensorflow' not in sys.modules, 'imported by a name'\n"
        "print(sorted(digitnet.__all__))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "'Predictor'" in result.stdout and "'train'" in result.stdout


def test_train_is_the_function_and_no_module_shares_its_name():
    import inspect

    from digitnet.training import loop

    assert digitnet.train is loop.train and inspect.isfunction(digitnet.train)
    assert digitnet.resume is loop.resume
    assert digitnet.TrainConfig().arch == "seed"


def test_unknown_names_are_attribute_errors():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = digitnet.nothing


def readme_example() -> str:
    section = README.read_text().split("### Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch, capsys):
    from conftest import synthetic_mnist, synthetic_split

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("digitnet.data.mnist.load_mnist", lambda *args, **kwargs: synthetic_mnist())
    seven = synthetic_split(1, 7).images[0, ..., 0]
    Image.fromarray(np.round(255 * (1 - seven)).astype(np.uint8)).resize((112, 112)).save("seven.png")
    example = readme_example()
    assert len([line for line in example.splitlines() if line.strip()]) == 5  # five lines, as promised
    exec(compile(example, "README.md", "exec"), {})
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [line[0] for line in lines] == ["seven.png", "<array", "<array"]
    assert [line[1] for line in lines[1:]] == ["1>", "2>"]
    for digit, probability, reason in (line[-3:] for line in lines):
        assert digit in "0123456789" and 0.0 <= float(probability) <= 1.0
        assert reason in ("none", "blank", "not-a-digit", "unsure")
    assert (tmp_path / "runs" / "fast" / "model.keras").is_file()
