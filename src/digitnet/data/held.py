"""What Python users hold, in the MNIST form: file paths, encoded bytes, PIL images and numpy arrays.

    held_inputs(inputs)          [(source name, item), ...]: one item or many, a numpy batch split up
    held_to_mnist(item, name)    float32 (28, 28) in [0, 1], ink bright on black

Every item goes through preprocess.to_mnist, as `digitnet predict` reads a file: any size, either
polarity (dark ink on light paper or the reverse), centred by mass; a 28x28 image already in
MNIST form passes through unchanged. Arrays may be uint8 (0..255), other whole numbers (0..255 or
0..65535, read from their largest value), bool, or floats (0..1, or 0..255 when larger values
occur); 2-D grey, or 3-D with 1, 3 (RGB) or 4 (RGBA, composited on white) channels last.
Bad input raises preprocess.ImageError naming the item; nothing here prints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitnet.data.preprocess import MAX_PIXELS, ImageError

CHANNELS = (1, 3, 4)  # a 3-D array whose last axis is one of these is one image, else a batch
_LUMA = np.array([0.299, 0.587, 0.114], np.float64)  # Pillow's RGB -> L weights (ITU-R 601)


def held_inputs(inputs) -> list[tuple[str, object]]:
    """Each item with its source name: the path as given, the image's file name, or "<array 3>",
    "<image 3>", "<bytes 3>" by its place in `inputs` (a numpy batch counts image by image).

    `inputs` is one item (a path, bytes, a PIL image, an array of one image) or an iterable of
    them; a 3-D array whose last axis is not 1, 3 or 4, or any 4-D array, is a batch of images.
    """
    items = []
    for item in _as_items(inputs):
        if isinstance(item, np.ndarray) and _is_batch(item):
            items.extend(item)
        else:
            items.append(item)
    return [(source_name(item, index), item) for index, item in enumerate(items)]


def _as_items(inputs) -> list:
    from PIL import Image

    if isinstance(inputs, (str, Path, bytes, bytearray, memoryview, Image.Image)):
        return [inputs]
    if isinstance(inputs, np.ndarray):
        return [inputs]
    try:
        return list(inputs)
    except TypeError:
        raise ImageError(
            f"cannot read a {type(inputs).__name__}; pass file paths, PIL images or numpy arrays "
            "(one, or a list of them)"
        ) from None


def _is_batch(array: np.ndarray) -> bool:
    return array.ndim == 4 or (array.ndim == 3 and array.shape[-1] not in CHANNELS)


def source_name(item, index: int) -> str:
    from PIL import Image

    if isinstance(item, (str, Path)):
        return str(item)
    if isinstance(item, Image.Image):
        return getattr(item, "filename", "") or f"<image {index}>"
    if isinstance(item, (bytes, bytearray, memoryview)):
        return f"<bytes {index}>"
    return f"<{type(item).__name__ if not isinstance(item, np.ndarray) else 'array'} {index}>"


def held_to_mnist(item, name: str) -> np.ndarray:
    """float32 (28, 28) in [0, 1], ink bright on black; ImageError naming `name` if it cannot be."""
    from PIL import Image, ImageOps

    from digitnet.data.preprocess import image_to_mnist, to_mnist

    if isinstance(item, (str, Path)):
        if not Path(item).exists():
            raise ImageError(f"{name}: no such file")
        return image_to_mnist(Path(item), name=name)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return image_to_mnist(bytes(item), name=name)
    if isinstance(item, Image.Image):
        _check_pixels(item.size, name)
        return to_mnist(ImageOps.exif_transpose(item))  # upright, as files are read
    if isinstance(item, np.ndarray) or hasattr(item, "__array__"):
        return to_mnist(array_to_image(np.asarray(item), name))
    raise ImageError(
        f"{name}: cannot read a {type(item).__name__}; pass a file path, a PIL image or a numpy array"
    )


def array_to_image(array: np.ndarray, name: str):
    """A Pillow image of one grey (H, W) or (H, W, 1|3|4) array, in a mode preprocess reads."""
    from PIL import Image

    array = _one_image(array, name)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    if array.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(array))  # L, RGB or RGBA
    if array.dtype.kind not in "uif":
        raise ImageError(f"{name}: an array of {array.dtype} is not an image; pass numbers (uint8 or float)")
    values = array.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ImageError(f"{name}: holds NaN or infinite values; pass finite pixel values")
    if values.min() < 0:
        raise ImageError(
            f"{name}: holds negative values (smallest {values.min():.3g}); pass pixels in [0, 1] or 0..255"
        )
    white = 1.0 if values.max() <= 1.0 else 255.0 if values.max() <= 255 else 65535.0
    if values.max() > 65535:
        raise ImageError(f"{name}: values above 65535 ({values.max():.3g}); pass pixels in [0, 1] or 0..255")
    grey = _grey(values, white) if values.ndim == 3 else values
    if array.dtype.kind in "ui" and values.ndim == 2:  # whole numbers: "I", white read from the largest
        return Image.fromarray(grey.astype(np.int32))
    return Image.fromarray((grey / white).astype(np.float32))  # "F" in [0, 1]: white is 1.0


def _one_image(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ImageError(
            f"{name}: an array of shape {array.shape} is not one image; pass (height, width) grey, "
            "(height, width, 3|4) colour, or a batch (N, height, width[, channels])"
        )
    _check_pixels((array.shape[1], array.shape[0]), name)
    return array


def _grey(values: np.ndarray, white: float) -> np.ndarray:
    """(H, W, 3|4) -> (H, W): luminance, any alpha composited on white (as preprocess does)."""
    grey = values[..., :3] @ _LUMA
    if values.shape[-1] == 4:
        alpha = values[..., 3] / white
        grey = grey * alpha + white * (1 - alpha)
    return grey


def _check_pixels(size: tuple[int, int], name: str) -> None:
    width, height = size
    if width == 0 or height == 0:
        raise ImageError(f"{name} has no pixels ({width}x{height}); pass a picture of a digit")
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{name} is too large: {width}x{height} pixels, more than the {MAX_PIXELS:,} allowed; "
            "scale it down or crop it to the digit"
        )
