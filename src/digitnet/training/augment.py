"""Random affine augmentation of digit batches, built to run inside the compiled training step.

One 3x3 matrix per image (rotation, shear and zoom about the image centre, then a shift), applied to the
whole batch by a single `ImageProjectiveTransformV3` op: no per-image Python, no `tf.map_fn`. Randomness
comes only from stateless ops keyed by a `[2]` seed, so the same (run seed, iteration) always gives the
same augmented batch and a resumed run repeats it exactly.

Coordinates: x is the column, y the row (downwards), pixel centres at integers, so the centre of a 28x28
image is (13.5, 13.5). A positive angle turns the digit counter-clockwise as seen on screen; a positive
shear pushes the bottom of the digit to the right. Every transform keeps orientation (determinant > 0):
there are no flips, which would turn a digit into another digit or none.

`augment_batch` is what training calls: these affine transforms together with the handwriting-style
changes of digitnet.training.style_augment (elastic wobble, stroke width, blur, low resolution, ink,
occlusion).

TensorFlow is imported inside the functions: importing this module configures nothing.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from digitnet.shapes import IMAGE_SIDE
from digitnet.training.style_augment import StyleRanges

MAX_SHEAR_DEGREES = 45.0  # beyond this a digit is a smear, and tan() heads for infinity at 90
_DRAWS_PER_IMAGE = 5  # angle, shear, zoom, shift x, shift y: one uniform [-1, 1) each


@dataclass(frozen=True)
class AffineRanges:
    """How far each random transform may go; each amount is drawn uniformly from [-range, range].

    The defaults are the long-standing MNIST recipe (Keras ImageDataGenerator with rotation 10,
    shifts 0.1, zoom 0.1): large enough to regularise, small enough that a 6 stays a 6.
    Shear defaults to 0 because rotation already covers handwriting slant at this scale, and
    adding it on top makes thin 1s and 7s drift toward each other.
    """

    rotate_degrees: float = 10.0  # angle uniform in [-r, r] degrees
    shift_fraction: float = 0.1  # shift per axis uniform in [-s, s] times the image side (0.1 -> 2.8 px)
    zoom_fraction: float = 0.1  # scale factor uniform in [1 - z, 1 + z]
    shear_degrees: float = 0.0  # horizontal shear angle uniform in [-h, h] degrees

    def is_identity(self) -> bool:
        return (
            self.rotate_degrees == 0
            and self.shift_fraction == 0
            and self.zoom_fraction == 0
            and self.shear_degrees == 0
        )

    def validate(self) -> None:
        limits = (
            ("rotate_degrees", self.rotate_degrees, 180.0, True),
            ("shift_fraction", self.shift_fraction, 0.5, True),
            ("zoom_fraction", self.zoom_fraction, 1.0, False),
            ("shear_degrees", self.shear_degrees, MAX_SHEAR_DEGREES, True),
        )
        for name, value, limit, inclusive in limits:
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"augmentation {name} must be a finite number, got {value!r}")
            within = value <= limit if inclusive else value < limit
            if value < 0 or not within:
                bound = f"<= {limit:g}" if inclusive else f"< {limit:g}"
                raise ValueError(f"augmentation {name} must be >= 0 and {bound}, got {value!r}")


def transform_parameters(
    angle_degrees, shear_degrees, zoom, shift_x, shift_y, image_size=(IMAGE_SIDE, IMAGE_SIDE)
):
    """(B, 8) output->input parameters for given per-image amounts, each a (B,) tensor or array.

    The forward (input->output) map is p_out = centre + shift + R(angle) Sh(shear) Z(zoom) (p_in - centre);
    the op wants its inverse, p_in = centre + A^-1 (p_out - centre - shift), with A = R Sh Z.
    Shifts are in pixels, `zoom` is the scale factor (> 1 enlarges), `image_size` is (height, width).
    """
    import tensorflow as tf

    angle = tf.cast(angle_degrees, tf.float32) * (math.pi / 180.0)
    shear = tf.math.tan(tf.cast(shear_degrees, tf.float32) * (math.pi / 180.0))
    zoom = tf.cast(zoom, tf.float32)
    cos, sin = tf.math.cos(angle), tf.math.sin(angle)
    # A = R Sh Z with R = [[cos, sin], [-sin, cos]] (counter-clockwise on screen, y down),
    # Sh = [[1, shear], [0, 1]], Z = zoom * I.
    a00, a01 = cos * zoom, (cos * shear + sin) * zoom
    a10, a11 = -sin * zoom, (cos - sin * shear) * zoom
    det = a00 * a11 - a01 * a10  # = zoom**2 > 0: orientation is kept, never a flip
    i00, i01, i10, i11 = a11 / det, -a01 / det, -a10 / det, a00 / det
    height, width = (tf.cast(side, tf.float32) for side in image_size)
    centre_x, centre_y = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    # Output point (x, y): dx = x - centre_x - shift_x, input x' = centre_x + i00 dx + i01 dy.
    offset_x = centre_x + tf.cast(shift_x, tf.float32)
    offset_y = centre_y + tf.cast(shift_y, tf.float32)
    a2 = centre_x - i00 * offset_x - i01 * offset_y
    b2 = centre_y - i10 * offset_x - i11 * offset_y
    zeros = tf.zeros_like(a2)
    return tf.stack([i00, i01, a2, i10, i11, b2, zeros, zeros], axis=1)


def affine_matrices(batch_size, seed, ranges: AffineRanges, image_size=(IMAGE_SIDE, IMAGE_SIDE)):
    """(B, 8) random output->input transform parameters, one row per image, from a stateless `[2]` seed."""
    import tensorflow as tf

    ranges.validate()
    height, width = (tf.cast(side, tf.float32) for side in image_size)
    unit = tf.random.stateless_uniform(
        [batch_size, _DRAWS_PER_IMAGE], seed=seed, minval=-1.0, maxval=1.0, dtype=tf.float32
    )
    return transform_parameters(
        angle_degrees=unit[:, 0] * ranges.rotate_degrees,
        shear_degrees=unit[:, 1] * ranges.shear_degrees,
        zoom=1.0 + unit[:, 2] * ranges.zoom_fraction,
        shift_x=unit[:, 3] * ranges.shift_fraction * width,
        shift_y=unit[:, 4] * ranges.shift_fraction * height,
        image_size=image_size,
    )


def apply_transforms(images, transforms):
    """Warps (B, H, W, C) float images by (B, 8) output->input parameters.

    Bilinear interpolation, zeros outside the input, result clipped to [0, 1].
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=tf.cast(transforms, tf.float32),
        output_shape=tf.shape(images)[1:3],
        fill_value=tf.constant(0.0, tf.float32),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return tf.clip_by_value(warped, tf.cast(0.0, images.dtype), tf.cast(1.0, images.dtype))


def random_affine(images, seed, ranges: AffineRanges):
    """Randomly rotated, sheared, zoomed and shifted copies of (B, H, W, C) images in [0, 1].

    `seed` is a stateless seed, an int32/int64 tensor of shape [2]; the batch size may be known only at
    run time. With all ranges zero the images come back untouched.
    """
    import tensorflow as tf

    ranges.validate()
    images = tf.convert_to_tensor(images)
    if ranges.is_identity():
        return images
    shape = tf.shape(images)
    transforms = affine_matrices(shape[0], seed, ranges, image_size=(shape[1], shape[2]))
    return apply_transforms(images, transforms)


def augment_batch(images, seed, affine: AffineRanges, style: StyleRanges | None = None):
    """The training augmentation of (B, H, W, C) images in [0, 1]: affine placement and writer style.

    Stroke width and elastic wobble come before the affine step, blur, low resolution, ink and
    occlusion after it (see digitnet.training.style_augment.random_style). The affine step draws from `seed`
    itself and each style change from its own seed folded from it, so with `style` None or all zero
    the result is bit for bit `random_affine(images, seed, affine)`: runs from before style
    augmentation existed resume and reproduce exactly.
    """
    from digitnet.training.style_augment import random_style

    affine.validate()
    if style is not None:
        style.validate()
    if style is None or style.is_identity():
        return random_affine(images, seed, affine)
    return random_style(images, seed, style, affine=lambda batch: random_affine(batch, seed, affine))


def augment_seed(run_seed, iteration):
    """The stateless seed for one training iteration: the same (run seed, iteration) repeats its batch."""
    import tensorflow as tf

    return tf.stack([tf.cast(run_seed, tf.int64), tf.cast(iteration, tf.int64)])


def preview_grid(
    images, seed, ranges: AffineRanges, copies: int = 4, style: StyleRanges | None = None
) -> np.ndarray:
    """(n*H, (1+copies)*W) float32 grid: each row is an original image followed by `copies` augmented ones.

    `images` is (n, H, W) or (n, H, W, 1); `seed` is an int (used as (seed, 0)) or a stateless `[2]` seed.
    Every copy is a separate row of one batch, so each gets its own random transform; `style`, when
    given, adds the handwriting-style changes exactly as training applies them (`augment_batch`).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[-1] != 1:
        raise ValueError(f"preview_grid needs (n, H, W) or (n, H, W, 1) images, got shape {images.shape}")
    if copies < 0:
        raise ValueError(f"preview_grid copies must be >= 0, got {copies}")
    if np.ndim(seed) == 0:
        seed = (int(seed), 0)
    count, height, width, _ = images.shape
    if count == 0:
        return np.zeros((0, (1 + copies) * width), np.float32)
    batch = np.repeat(images, copies, axis=0)  # image 0 copy 0..copies-1, image 1 copy 0, ...
    augmented = np.asarray(augment_batch(batch, np.asarray(seed, np.int64), ranges, style))
    augmented = augmented.reshape(count, copies, height, width)
    rows = [np.concatenate([images[index, ..., 0], *augmented[index]], axis=1) for index in range(count)]
    return np.concatenate(rows, axis=0).astype(np.float32)
