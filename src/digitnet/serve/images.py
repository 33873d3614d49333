"""Image files in, MNIST-form arrays out (via digitnet.data.preprocess), and the 28x28 image back as PNG.

A request may carry many image files, and a few kilobytes of PNG can decode to 40 megapixels, so
what a request's images cost together is checked from their headers before any is decoded.
"""

from __future__ import annotations

import base64
import io
import warnings

import numpy as np

from digitnet.data.inputs import mnist_png
from digitnet.serve.errors import RequestError

# Decoded pixels one request may cost, all its images together: a little more than four 12-megapixel
# phone photos, about what the 16 MB body limit lets through as JPEG (1-bit PNGs pack far tighter).
DEFAULT_MAX_REQUEST_PIXELS = 50_000_000


def image_file_to_mnist(data: bytes, *, name: str | None, max_pixels: int) -> np.ndarray:
    """float32 (28, 28) in [0, 1], ink bright on black; RequestError for anything not a usable image.

    `data` is always bytes here: preprocess reads a str as a file path, which a client must
    never be able to choose.
    """
    from PIL import Image, UnidentifiedImageError

    from digitnet.data.preprocess import ImageError, image_to_mnist

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


def image_pixels(data: bytes) -> int:
    """Width x height from the image file's header, without decoding it; 0 when the header cannot
    be read (decoding it then says what is wrong)."""
    from PIL import Image

    from digitnet.data.preprocess import FORMATS

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:  # reads the header only
                width, height = image.size
    except Image.DecompressionBombError:  # over twice Pillow's own limit: at least that many
        return 2 * Image.MAX_IMAGE_PIXELS + 1
    except Exception:  # Pillow raises many kinds for what is not an image it knows
        return 0
    return width * height


def check_pixel_budget(files: list[tuple[bytes, str]], *, max_pixels: int, max_total_pixels: int) -> int:
    """The decoded pixels of all `files` ([(image file bytes, what)]), from their headers alone.

    RequestError 400 for one image over `max_pixels`, 413 for all of them over `max_total_pixels`.
    """
    total = 0
    for data, what in files:
        pixels = image_pixels(data)
        if pixels > max_pixels:
            raise RequestError(
                f"{what} has {pixels:,} pixels, more than the {max_pixels:,} allowed; "
                "scale it down or crop it to the digit"
            )
        total += pixels
    if total > max_total_pixels:
        raise RequestError(
            f"the {len(files)} images in this request have {total:,} pixels together, "
            f"more than the {max_total_pixels:,} allowed per request; send fewer or smaller "
            "images (the model sees 28x28)",
            status=413,
        )
    return total


def decode_images(
    files: list[tuple[bytes, str]], *, max_pixels: int, max_total_pixels: int = DEFAULT_MAX_REQUEST_PIXELS
) -> list[np.ndarray]:
    """Each image file -> float32 (28, 28), once check_pixel_budget has passed them all."""
    check_pixel_budget(files, max_pixels=max_pixels, max_total_pixels=max_total_pixels)
    return [image_file_to_mnist(data, name=what, max_pixels=max_pixels) for data, what in files]


def mnist_png_base64(image: np.ndarray) -> str:
    """The 28x28 image the model saw, as base64 PNG text (white ink on black, as MNIST)."""
    return base64.b64encode(mnist_png(image)).decode("ascii")
