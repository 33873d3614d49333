"""digitnet: a convolutional network that reads handwritten digits. The package root is its Python API.

    import digitnet

    data = digitnet.load_mnist()                       # MNIST, downloaded and checked once, then cached
    result = digitnet.train(digitnet.recipe_config("fast"), "runs/fast", data)
    for prediction in digitnet.predict_images(["seven.png"], model=result.run_dir):
        print(prediction.digit, prediction.probability, prediction.uncertain)

Every name is imported on first use (module __getattr__), so `import digitnet` stays fast and
imports no TensorFlow; `digitnet --help` likewise.
"""

from importlib import import_module

# name -> (module, attribute); an attribute of None means the module itself.
_API = {
    "load_mnist": ("digitnet.data", "load_mnist"),
    "TrainConfig": ("digitnet.config", "TrainConfig"),
    "recipe_config": ("digitnet.config", "recipe_config"),
    # The digitnet.train module, callable as its train(config, run_dir, data): the function and the
    # module share the name, and whichever an import binds, digitnet.train(...) trains.
    "train": ("digitnet.train", None),
    "Predictor": ("digitnet.predict", "Predictor"),
    "ModelSource": ("digitnet.model_source", "ModelSource"),
    "predict_images": ("digitnet.predict", "predict_images"),
}

__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    if name == "__version__":
        return _version()
    if name not in _API:
        raise AttributeError(f"module 'digitnet' has no attribute {name!r}")
    module_name, attribute = _API[name]
    module = import_module(module_name)
    return module if attribute is None else getattr(module, attribute)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("digitnet")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "unknown"
