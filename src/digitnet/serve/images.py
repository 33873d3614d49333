"""Image files in, MNIST-form arrays out (via digitnet.preprocess), and the 28x28 image back as PNG."""

from __future__ import annotations

import base64
import io

import numpy as np

from digitnet.serve.errors import RequestError


def image_file_to_mnist(data: bytes, *, name: str | None, max_pixels: int) -> np.ndarray:
    """float32 (28, 28) in [0, 1], ink bright on black; RequestError for anything not a usable image.

    `data` is always bytes here: preprocess reads a str as a file path, which a client must
    never be able to choose.
    """
    from PIL import Image, UnidentifiedImageError

    from digitnet.preprocess import ImageError, image_to_mnist

    if not data:
        raise RequestError("the image is empty (0 bytes)")
    try:
        return image_to_mnist(bytes(data), name=name, max_pixels=max_pixels)
    except ImageError as error:
        raise RequestError(str(error)) from None
    except Image.DecompressionBombError:  # preprocess checks first; this is the second line
        raise RequestError(f"{name or 'the image'} has more pixels than the {max_pixels:,} allowed") from None
    except UnidentifiedImageError:
        raise RequestError(f"{name or 'the upload'} is not an image file PIL can read") from None


def mnist_png_base64(image: np.ndarray) -> str:
    """The 28x28 image the model saw, as base64 PNG text (white ink on black, as MNIST)."""
    from PIL import Image

    pixels = np.clip(np.asarray(image, dtype=np.float32).reshape(28, 28), 0.0, 1.0)
    buffer = io.BytesIO()
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
