"""Random changes of handwriting style, built to run inside the compiled training step.

The affine transforms in digitnet.training.augment move a digit as a whole; these change what varies between
writers and their paper: wobbly strokes (elastic distortion), pen width (stroke), focus and resolution
(blur, low resolution), ink and scanner contrast (ink), and a finger or a fold over part of the digit
(occlusion). Each works on a whole batch of (B, H, W, C) images in [0, 1] at once, with TensorFlow ops
only (no per-image Python, no `tf.map_fn`), draws one random amount per image, and gets its own
stateless seed folded from the iteration's `[2]` seed, so a resumed run repeats its batches exactly
and no transform shares another's random draws. An amount of zero returns the images untouched.

Coordinates as in digitnet.training.augment: x is the column, y the row, pixel centres at integers.
TensorFlow is imported inside the functions: importing this module configures nothing.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

OCCLUSION_PROBABILITY = 0.5  # half the images keep all their ink, so clean digits are still seen
LOW_RES_SIDES = (10, 12, 14, 16, 18, 20)  # square sides a low-resolution image passes through
# Folded into the iteration's seed, one per transform: distinct streams, and none is the affine one.
_STREAMS = {"elastic": 1, "stroke": 2, "blur": 3, "low_res": 4, "ink": 5, "occlusion": 6}


@dataclass(frozen=True)
class StyleRanges:
    """How far each style change may go. Every amount defaults to 0: off."""

    elastic_alpha: float = 0.0  # RMS displacement per axis, pixels (Simard's alpha 34, sigma 4 ~ 1.4)
    elastic_sigma: float = 4.0  # smoothness of the displacement field: Gaussian sigma, pixels
    stroke_pixels: float = 0.0  # pixels added (dilation) or removed (erosion) at each stroke edge,
    #                             per image uniform in [-s, s]
    blur_sigma: float = 0.0  # Gaussian blur sigma per image uniform in [0, b] pixels
    low_res_probability: float = 0.0  # chance an image is shrunk to a side in LOW_RES_SIDES and back
    ink_fraction: float = 0.0  # ink scaled by [1 - f, 1] and a gamma in [1/(1+f), 1+f]
    occlusion_fraction: float = 0.0  # erased rectangle's sides up to this fraction of the image's

    def is_identity(self) -> bool:
        return (
            self.elastic_alpha == 0
            and self.stroke_pixels == 0
            and self.blur_sigma == 0
            and self.low_res_probability == 0
            and self.ink_fraction == 0
            and self.occlusion_fraction == 0
        )

    def validate(self) -> None:
        # (name, value, lowest, highest, lowest allowed?): beyond these a digit stops being one.
        limits = (
            ("elastic_alpha", self.elastic_alpha, 0.0, 8.0, True),
            ("elastic_sigma", self.elastic_sigma, 0.0, 14.0, False),
            ("stroke_pixels", self.stroke_pixels, 0.0, 2.0, True),
            ("blur_sigma", self.blur_sigma, 0.0, 4.0, True),
            ("low_res_probability", self.low_res_probability, 0.0, 1.0, True),
            ("ink_fraction", self.ink_fraction, 0.0, 0.9, True),
            ("occlusion_fraction", self.occlusion_fraction, 0.0, 1.0, True),
        )
        for name, value, low, high, low_allowed in limits:
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"augmentation {name} must be a finite number, got {value!r}")
            if value < low or (value == low and not low_allowed) or value > high:
                lowest = f">= {low:g}" if low_allowed else f"> {low:g}"
                raise ValueError(f"augmentation {name} must be {lowest} and <= {high:g}, got {value!r}")


def random_style(images, seed, style: StyleRanges, affine=None):
    """Every style change in `style`, in the order a digit meets them, around an optional affine step.

    Pen and hand first (stroke width, elastic wobble), then `affine(images)` (placement, the caller's),
    then camera and paper (blur, low resolution, ink level, occlusion). With `style` all zero this is
    exactly `affine(images)`.
    """
    import tensorflow as tf

    style.validate()
    images = tf.convert_to_tensor(images)
    images = stroke_width(images, _stream(seed, "stroke"), style.stroke_pixels)
    images = elastic_distortion(images, _stream(seed, "elastic"), style.elastic_alpha, style.elastic_sigma)
    if affine is not None:  # its op forgets the static height and width that the rest needs
        images = tf.ensure_shape(affine(images), images.shape)
    images = gaussian_blur(images, _stream(seed, "blur"), style.blur_sigma)
    images = low_resolution(images, _stream(seed, "low_res"), style.low_res_probability)
    images = ink_level(images, _stream(seed, "ink"), style.ink_fraction)
    return occlude(images, _stream(seed, "occlusion"), style.occlusion_fraction)


def _stream(seed, name: str):
    import tensorflow as tf

    return tf.random.experimental.stateless_fold_in(seed, _STREAMS[name])


def _static_size(images) -> tuple[int, int]:
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError("style augmentation needs the image height and width known when traced")
    return int(height), int(width)


def _per_image(values, images):
    """(B,) -> (B, 1, 1, 1), to scale (B, H, W, C) images image by image."""
    import tensorflow as tf

    return tf.reshape(tf.cast(values, images.dtype), [-1, 1, 1, 1])


# ---------------------------------------------------------------- elastic distortion


def smoothing_matrix(size: int, sigma: float) -> np.ndarray:
    """(size, size): row i holds exp(-(i - q)^2 / 2 sigma^2) over the line's pixels q (unnormalised)."""
    positions = np.arange(size, dtype=np.float64)
    return np.exp(-((positions[:, None] - positions[None, :]) ** 2) / (2.0 * sigma**2))


def displacement_field(batch_size, height: int, width: int, seed, alpha: float, sigma: float):
    """(B, 2, H, W) smooth random (dy, dx) in pixels, each with RMS `alpha` (Simard et al. 2003).

    Uniform noise in [-1, 1] smoothed by a Gaussian of `sigma` (as two matrix products, rows then
    columns), then divided at each pixel by its exact expected RMS: near the border fewer noise
    pixels contribute, and without this the field would be weaker there. So `alpha` is the RMS
    displacement in pixels everywhere and for any sigma.
    """
    import tensorflow as tf

    rows, cols = smoothing_matrix(height, sigma), smoothing_matrix(width, sigma)
    # Var(U[-1, 1]) = 1/3; pixel (i, j) of R N C^T has variance (1/3) |R_i|^2 |C_j|^2.
    expected_rms = math.sqrt(1.0 / 3.0) * np.outer(np.linalg.norm(rows, axis=1), np.linalg.norm(cols, axis=1))
    noise = tf.random.stateless_uniform(
        [batch_size, 2, height, width], seed=seed, minval=-1.0, maxval=1.0, dtype=tf.float32
    )
    smooth = tf.matmul(
        tf.matmul(tf.constant(rows, tf.float32), noise), tf.constant(cols, tf.float32), transpose_b=True
    )
    return smooth * tf.constant(alpha / expected_rms, tf.float32)


def bilinear_sample(images, rows, cols):
    """(B, H, W, C) images read at (B, H, W) source coordinates, bilinearly; zeros outside the image.

    The image gets a one-pixel frame of zeros and coordinates are clamped into that frame, so a
    point outside reads zero and a point half a pixel out reads half the edge pixel.
    """
    import tensorflow as tf

    height, width = _static_size(images)
    channels = tf.shape(images)[3]
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
    flat = tf.reshape(padded, [-1, channels])
    y = tf.clip_by_value(rows + 1.0, 0.0, height + 1.0)
    x = tf.clip_by_value(cols + 1.0, 0.0, width + 1.0)
    y0 = tf.minimum(tf.floor(y), float(height))
    x0 = tf.minimum(tf.floor(x), float(width))
    wy, wx = (y - y0)[..., None], (x - x0)[..., None]
    y0, x0 = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
    stride = width + 2
    base = tf.reshape(tf.range(tf.shape(images)[0]) * (height + 2) * stride, [-1, 1, 1])
    top_left = base + y0 * stride + x0

    def at(offset):
        return tf.gather(flat, top_left + offset)

    top = at(0) * (1.0 - wx) + at(1) * wx
    bottom = at(stride) * (1.0 - wx) + at(stride + 1) * wx
    return top * (1.0 - wy) + bottom * wy


def elastic_distortion(images, seed, alpha: float, sigma: float = 4.0):
    """Each image warped by its own smooth random displacement field of RMS `alpha` pixels."""
    import tensorflow as tf

    images = tf.convert_to_tensor(images)
    if alpha == 0:
        return images
    height, width = _static_size(images)
    return displace(images, displacement_field(tf.shape(images)[0], height, width, seed, alpha, sigma))


def displace(images, field):
    """Output pixel (y, x) of image b reads image b at (y + field[b, 0, y, x], x + field[b, 1, y, x])."""
    import tensorflow as tf

    height, width = _static_size(images)
    grid_rows, grid_cols = np.meshgrid(
        np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij"
    )
    warped = bilinear_sample(images, grid_rows + field[:, 0], grid_cols + field[:, 1])
    return tf.clip_by_value(warped, 0.0, 1.0)


# ---------------------------------------------------------------- stroke width


def stroke_width(images, seed, max_pixels: float):
    """Strokes thickened or thinned by a per-image amount uniform in [-max_pixels, max_pixels]."""
    import tensorflow as tf

    images = tf.convert_to_tensor(images)
    if max_pixels == 0:
        return images
    amounts = tf.random.stateless_uniform(
        [tf.shape(images)[0]], seed=seed, minval=-max_pixels, maxval=max_pixels, dtype=tf.float32
    )
    return change_stroke_width(images, amounts, int(math.ceil(max_pixels)))


def change_stroke_width(images, amounts, max_steps: int = 2):
    """Each image's strokes grown (amount > 0) or shrunk (< 0) by |amount| pixels at every edge.

    Whole pixels are grey-scale dilations (3x3 max) or erosions (3x3 min), repeated up to
    `max_steps` times (|amounts| must not exceed it); a fractional amount blends the two nearest,
    so the width changes smoothly with the amount. Amount 0 is the image itself, exactly.
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images)
    thicker, thinner = [images], [images]
    for _ in range(max_steps):
        thicker.append(tf.nn.max_pool2d(thicker[-1], 3, 1, "SAME"))
        thinner.append(-tf.nn.max_pool2d(-thinner[-1], 3, 1, "SAME"))
    levels = tf.stack(thinner[:0:-1] + thicker, axis=1)  # (B, 2 steps + 1, H, W, C): -steps..steps
    # Hat weights: amount 1.3 is 0.7 of one dilation and 0.3 of two; amount 0 is 1 x the image.
    steps = tf.range(-max_steps, max_steps + 1, dtype=tf.float32)
    weights = tf.nn.relu(1.0 - tf.abs(tf.cast(amounts, tf.float32)[:, None] - steps))
    return tf.einsum("bl,blhwc->bhwc", tf.cast(weights, images.dtype), levels)


# ---------------------------------------------------------------- blur and low resolution


def _apply_separable(images, row_operators, col_operators):
    """out[b] = R[b] @ image[b] @ C[b]^T per channel: R (B, H, H) mixes rows, C (B, W, W) columns."""
    import tensorflow as tf

    planes = tf.transpose(images, [0, 3, 1, 2])  # (B, C, H, W)
    planes = tf.matmul(row_operators[:, None], planes)
    planes = tf.matmul(planes, col_operators[:, None], transpose_b=True)
    return tf.transpose(planes, [0, 2, 3, 1])


def gaussian_matrices(sigmas, size: int):
    """(B, size, size) matrices that blur a line of `size` pixels, zeros beyond its ends.

    Row i holds the Gaussian centred on pixel i, normalised over the whole line plus the zeros
    around it, so ink near the border fades out rather than piling up. Sigma 0 gives the identity.
    """
    import tensorflow as tf

    positions = np.arange(size, dtype=np.float32)
    distance = tf.constant((positions[:, None] - positions[None, :]) ** 2)  # (size, size)
    offsets = tf.constant(np.arange(-(size - 1), size, dtype=np.float32) ** 2)
    # A tiny sigma makes exp(-d^2 / 2 sigma^2) exactly 0 off the diagonal: the identity, no NaN.
    spread = 2.0 * tf.square(tf.maximum(tf.cast(sigmas, tf.float32), 1e-3))[:, None]  # (B, 1)
    total = tf.reduce_sum(tf.exp(-offsets[None, :] / spread), axis=1)  # (B,)
    return tf.exp(-distance[None] / spread[..., None]) / total[:, None, None]


def gaussian_blur(images, seed, max_sigma: float):
    """Each image blurred by a Gaussian of sigma uniform in [0, max_sigma] pixels."""
    import tensorflow as tf

    images = tf.convert_to_tensor(images)
    if max_sigma == 0:
        return images
    sigmas = tf.random.stateless_uniform(
        [tf.shape(images)[0]], seed=seed, minval=0.0, maxval=max_sigma, dtype=tf.float32
    )
    return blur(images, sigmas)


def blur(images, sigmas):
    """Image b blurred by a Gaussian of sigmas[b] pixels (0: untouched); ink fades out at the border."""
    import tensorflow as tf

    images = tf.convert_to_tensor(images)
    height, width = _static_size(images)
    rows, cols = gaussian_matrices(sigmas, height), gaussian_matrices(sigmas, width)
    blurred = _apply_separable(images, tf.cast(rows, images.dtype), tf.cast(cols, images.dtype))
    return tf.clip_by_value(blurred, 0.0, 1.0)


def shrink_and_grow_matrix(size: int, small: int) -> np.ndarray:
    """(size, size): a line averaged down to `small` pixels (area), then bilinearly back up to `size`."""
    scale = size / small
    down = np.zeros((small, size))
    for target in range(small):  # each small pixel covers [target * scale, (target + 1) * scale)
        start, stop = target * scale, (target + 1) * scale
        for source in range(int(math.floor(start)), min(size, int(math.ceil(stop)))):
            down[target, source] = (min(stop, source + 1) - max(start, source)) / scale
    up = np.zeros((size, small))
    for target in range(size):  # half-pixel centres, edges clamped (TensorFlow's resize convention)
        position = min(max((target + 0.5) / size * small - 0.5, 0.0), small - 1.0)
        low = int(math.floor(position))
        high = min(low + 1, small - 1)
        up[target, low] += 1.0 - (position - low)
        up[target, high] += position - low
    return (up @ down).astype(np.float32)


def low_resolution(images, seed, probability: float):
    """With `probability`, an image is shrunk to a random side from LOW_RES_SIDES and grown back."""
    import tensorflow as tf

    images = tf.convert_to_tensor(images)
    if probability == 0:
        return images
    height, width = _static_size(images)

    def operators(size):  # index 0: untouched; 1 + i: through LOW_RES_SIDES[i]
        return tf.constant(
            np.stack(
                [np.eye(size, dtype=np.float32)]
                + [shrink_and_grow_matrix(size, side) for side in LOW_RES_SIDES]
            )
        )

    draws = tf.random.stateless_uniform([tf.shape(images)[0], 2], seed=seed, dtype=tf.float32)
    side = tf.minimum(tf.cast(draws[:, 1] * len(LOW_RES_SIDES), tf.int32), len(LOW_RES_SIDES) - 1)
    choice = tf.where(draws[:, 0] < probability, 1 + side, 0)
    rows = tf.cast(tf.gather(operators(height), choice), images.dtype)
    cols = tf.cast(tf.gather(operators(width), choice), images.dtype)
    return tf.clip_by_value(_apply_separable(images, rows, cols), 0.0, 1.0)


# ---------------------------------------------------------------- ink and occlusion


def ink_level(images, seed, fraction: float):
    """Ink times a factor uniform in [1 - fraction, 1], after a gamma log-uniform in [1/(1+f), 1+f].

    Gamma above 1 thins faint edges (a hard pen), below 1 fattens them (a soft one); the factor
    fades the whole digit (a dry pen, a pale scan). Paper stays 0 and ink never exceeds 1.
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images)
    if fraction == 0:
        return images
    draws = tf.random.stateless_uniform([tf.shape(images)[0], 2], seed=seed, dtype=tf.float32)
    factor = 1.0 - draws[:, 0] * fraction
    gamma = tf.pow(1.0 + fraction, 2.0 * draws[:, 1] - 1.0)
    inked = tf.pow(tf.clip_by_value(images, 0.0, 1.0), _per_image(gamma, images))
    return inked * _per_image(factor, images)


def occlude(images, seed, max_fraction: float):
    """With OCCLUSION_PROBABILITY, a rectangle inside the image is erased (set to 0).

    Its height and width are each uniform in [0, max_fraction] of the image's, its place uniform
    among those that keep it inside. Here pixel i spans [i, i + 1), and a pixel is erased when its
    middle, i + 0.5, lies in the rectangle.
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images)
    if max_fraction == 0:
        return images
    height, width = _static_size(images)
    draws = tf.random.stateless_uniform([tf.shape(images)[0], 5], seed=seed, dtype=tf.float32)
    erase = draws[:, 0] < OCCLUSION_PROBABILITY
    box_height, box_width = draws[:, 1] * max_fraction * height, draws[:, 2] * max_fraction * width
    top, left = draws[:, 3] * (height - box_height), draws[:, 4] * (width - box_width)
    centres_y = tf.range(height, dtype=tf.float32) + 0.5
    centres_x = tf.range(width, dtype=tf.float32) + 0.5
    in_rows = (centres_y[None] >= top[:, None]) & (centres_y[None] < (top + box_height)[:, None])
    in_cols = (centres_x[None] >= left[:, None]) & (centres_x[None] < (left + box_width)[:, None])
    mask = in_rows[:, :, None] & in_cols[:, None, :] & erase[:, None, None]  # (B, H, W)
    return tf.where(mask[..., None], tf.zeros_like(images), images)
