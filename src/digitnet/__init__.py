"""digitnet: a convolutional network that reads handwritten digits. The package root is its Python API.

    import digitnet

    data = digitnet.load_mnist()                       # MNIST, downloaded and checked once, then cached
    result = digitnet.train(digitnet.recipe_config("fast"), "runs/fast", data)
    for reading in digitnet.predict_images(["seven.png", data.test.images[:2]], model=result.run_dir):
        print(reading.source, reading.digit, reading.probability, reading.reason)

    reader = digitnet.Reader()                         # the shipped model, loaded once
    reader.read([pil_image, numpy_array, "eight.jpg"]) # any size, either polarity, uint8 or float

Every name is imported on first use (module __getattr__), so `import digitnet` stays fast and
imports no TensorFlow; `digitnet --help` likewise.
"""

from importlib import import_module

# name -> (module, attribute); an attribute of None means the module itself.
_API = {
    "load_mnist": ("digitnet.data.mnist", "load_mnist"),
    "TrainConfig": ("digitnet.training.config", "TrainConfig"),
    "recipe_config": ("digitnet.training.config", "recipe_config"),
    "train": ("digitnet.training.loop", "train"),
    "resume": ("digitnet.training.loop", "resume"),
    "Predictor": ("digitnet.reading.predict", "Predictor"),
    "ModelSource": ("digitnet.reading.model_source", "ModelSource"),
    "Reader": ("digitnet.reading.reader", "Reader"),
    "Reading": ("digitnet.reading.reader", "Reading"),
    "predict_images": ("digitnet.reading.reader", "predict_images"),
}

__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    if name == "__version__":
        from digitnet.util.version import package_version

        return package_version()
    if name not in _API:
        raise AttributeError(f"module 'digitnet' has no attribute {name!r}")
    module_name, attribute = _API[name]
    module = import_module(module_name)
    return module if attribute is None else getattr(module, attribute)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
