"""Models as Keras networks: loading them safely, running them with Keras, converting them for reading.

The reading side (digitnet.reading) runs LiteRT files only and imports no Keras. What needs the
networks themselves lives here, on the training side: evaluation with `--engine keras`, export and
fine-tuning (they start from model.keras), and the one-time conversion of a .keras file that came
without its LiteRT file into the compile cache the reader looks in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitnet.errors import first_line
from digitnet.layout import MODEL_FILE
from digitnet.reading.ensemble_dir import EnsembleError
from digitnet.reading.model_source import ModelLoadError, ModelSource, check_keras_archive
from digitnet.reading.predict import NonFiniteModelError, ProbabilityModel, probe_images


def check_finite_outputs(model, model_path: Path) -> None:
    """One forward pass of probe_images; NonFiniteModelError when any output is NaN or infinite.

    Run once at load time so that evaluate, export and finetune refuse such a model in one line
    instead of failing (or writing it out) later.
    """
    outputs = np.asarray(model(probe_images(model.input_shape[1:]), training=False))
    if not np.all(np.isfinite(outputs)):
        raise NonFiniteModelError(
            f"{model_path} gives NaN or infinite outputs (its weights are damaged or training diverged); "
            "use another model or retrain it (e.g. with a lower --lr)"
        )


def load_keras_file(model_path: Path):
    import keras

    check_keras_archive(model_path)
    try:
        # safe_mode stays on: a model file must never run code on load.
        model = keras.models.load_model(model_path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many kinds for a damaged archive
        raise ModelLoadError(
            f"{model_path} could not be loaded as a Keras model ({type(error).__name__}: {first_line(error)})"
        ) from error
    check_finite_outputs(model, model_path)
    return model


def load_source_models(source: ModelSource) -> list:
    """Every network of a model source, checked to take the same input (the shipped model's
    model.keras checked against its card first)."""
    source.check_shipped(MODEL_FILE)
    models = [load_keras_file(path) for path in source.model_files]
    shapes = {tuple(model.input_shape[1:]) for model in models}
    if len(shapes) > 1:
        raise EnsembleError(
            f"the members of {source.path} take different input shapes "
            f"({', '.join(map(str, sorted(shapes)))}); they cannot vote together"
        )
    return models


def load_model(path: Path | str | ModelSource | None):
    """The one network at `path` (a run directory, .keras file or `default`), loaded safely."""
    source = ModelSource.resolve(path)
    source.check_shipped(MODEL_FILE)
    return load_keras_file(source.model_file)


def keras_logits_fn(model):
    from digitnet.training.inference import make_logits_fn

    function = make_logits_fn(model)
    function.engine = "keras"
    return function


def keras_probability_model(
    path: Path | str | ModelSource | None, rule: str = "mean", temperature: float = 1.0
) -> ProbabilityModel:
    """A ProbabilityModel whose networks Keras runs (what `evaluate --engine keras` measures)."""
    source = ModelSource.resolve(path)
    functions = [keras_logits_fn(model) for model in load_source_models(source)]
    return ProbabilityModel(source, rule=rule, temperature=temperature, logits_fns=functions)


def probability_model(path, rule: str = "mean", engine: str = "keras", temperature: float = 1.0):
    """Keras (engine "keras") or LiteRT (anything else, converting first if need be)."""
    if engine == "keras":
        return keras_probability_model(path, rule, temperature)
    convert_missing(ModelSource.resolve(path).model_files)
    return ProbabilityModel(path, rule=rule, engine=engine, temperature=temperature)


def convert_to_cache(keras_file: Path) -> Path:
    """Convert a .keras file once into the compile cache the reader looks in; the cached path."""
    import keras

    from digitnet.reading.engine import cached_flatbuffer_path, store_compiled
    from digitnet.training.inference import keras_to_litert
    from digitnet.util.fileio import file_sha256

    flatbuffer = keras_to_litert(load_keras_file(Path(keras_file)))
    path = cached_flatbuffer_path(file_sha256(Path(keras_file)), f"keras{keras.__version__}")
    store_compiled(path, flatbuffer)
    return path


def networks_to_read(source: ModelSource, detector_dir: Path | None = None) -> list[Path]:
    """The .keras networks reading `source` (and the detector choose_detector picks for it) runs
    that have no LiteRT file yet. The shipped model's and the shipped detector are shipped: none."""
    from digitnet.reading.detector import MODEL_FILE as DETECTOR_MODEL
    from digitnet.reading.detector import choose_detector
    from digitnet.reading.engine import find_flatbuffer

    networks = [] if source.is_default else list(source.model_files)
    origin, folder = choose_detector(source, detector_dir)
    shipped = origin == "shipped" or (origin == "own" and source.is_default)
    if not shipped and (Path(folder) / DETECTOR_MODEL).is_file():
        networks.append(Path(folder) / DETECTOR_MODEL)
    return [path for path in networks if find_flatbuffer(path) is None]


def convert_for_reading(model, detector_dir: Path | None = None) -> list[Path]:
    """Convert, once, what reading `model` needs and has no LiteRT file for; what was converted."""
    missing = networks_to_read(ModelSource.resolve(model), detector_dir)
    for path in missing:
        convert_to_cache(path)
    return missing


def convert_missing(keras_files) -> list[Path]:
    """Convert every .keras file that has no LiteRT file yet (beside it or cached); what was converted."""
    from digitnet.reading.engine import find_flatbuffer

    missing = [Path(path) for path in keras_files if find_flatbuffer(Path(path)) is None]
    for path in missing:
        convert_to_cache(path)
    return missing
