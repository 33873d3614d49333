"""Random affine augmentation: geometry of known transforms, seeding, graph mode, and no flips."""

import numpy as np
import pytest
import tensorflow as tf

from digitnet.augment import (AffineRanges, affine_matrices, apply_transforms, augment_seed,
                              preview_grid, random_affine, transform_parameters)

SEED = tf.constant([7, 3], tf.int64)
NONE = AffineRanges(rotate_degrees=0.0, shift_fraction=0.0, zoom_fraction=0.0, shear_degrees=0.0)


def _dot(row: int, col: int, size: int = 1) -> np.ndarray:
    image = np.zeros((1, 28, 28, 1), np.float32)
    image[0, row:row + size, col:col + size, 0] = 1.0
    return image


def _digit_like_batch(count: int, seed: int = 0) -> np.ndarray:
    """Bars and blobs of varying position and size, over faint noise: distinct, asymmetric shapes."""
    rng = np.random.default_rng(seed)
    images = rng.random((count, 28, 28, 1), dtype=np.float32) * 0.1
    for index in range(count):
        top, left = rng.integers(4, 12, size=2)
        images[index, top:top + 12, left + 8:left + 11, 0] = 1.0  # vertical stroke
        images[index, top:top + 3, left:left + 11, 0] = 0.8  # a bar on top, like a 7
    return images


def _fixed(angle=0.0, shear=0.0, zoom=1.0, shift_x=0.0, shift_y=0.0):
    return transform_parameters(*(np.array([value], np.float32) for value in
                                  (angle, shear, zoom, shift_x, shift_y)))


def _peak(image) -> tuple[int, int]:
    image = np.asarray(image)[0, ..., 0]
    return tuple(int(i) for i in np.unravel_index(image.argmax(), image.shape))


def _centre_of_mass(images) -> np.ndarray:
    """(B, 2) centre of mass as (row, col)."""
    images = np.asarray(images)[..., 0]
    rows, cols = np.mgrid[0:28, 0:28]
    mass = images.sum(axis=(1, 2))
    return np.stack([(images * rows).sum(axis=(1, 2)) / mass, (images * cols).sum(axis=(1, 2)) / mass], axis=1)


def test_keeps_shape_dtype_range_and_batch_order():
    images = _digit_like_batch(16)
    out = random_affine(images, SEED, AffineRanges())
    assert out.shape == images.shape and out.dtype == tf.float32
    out = out.numpy()
    assert out.min() >= 0.0 and out.max() <= 1.0
    tiny = random_affine(images, SEED, AffineRanges(rotate_degrees=1.0, shift_fraction=0.01,
                                                    zoom_fraction=0.01, shear_degrees=1.0)).numpy()
    distances = ((tiny[:, None] - images[None]) ** 2).sum(axis=(2, 3, 4))  # [output, input]
    assert (distances.argmin(axis=1) == np.arange(16)).all()
    assert not np.array_equal(tiny, images)  # it did move something


def test_all_zero_ranges_are_exact_identity():
    images = _digit_like_batch(4)
    assert NONE.is_identity() and not AffineRanges().is_identity()
    out = random_affine(images, SEED, NONE).numpy()
    assert np.array_equal(out, images)
    transforms = affine_matrices(4, SEED, NONE).numpy()
    assert np.allclose(transforms, [[1, 0, 0, 0, 1, 0, 0, 0]] * 4, atol=1e-6)


def test_shift_moves_a_pixel_by_exact_columns_and_rows():
    image = _dot(5, 20)
    moved = apply_transforms(image, _fixed(shift_x=2.0)).numpy()
    assert _peak(moved) == (5, 22) and moved.max() == pytest.approx(1.0)
    assert _peak(apply_transforms(image, _fixed(shift_y=-3.0))) == (2, 20)
    # A random shift of at most 0.1 * 28 = 2.8 px: a small square never travels further than that.
    square = np.repeat(_dot(12, 12, size=4), 64, axis=0)
    shifted = random_affine(square, SEED, AffineRanges(rotate_degrees=0.0, shift_fraction=0.1,
                                                       zoom_fraction=0.0))
    travel = _centre_of_mass(shifted) - _centre_of_mass(square)
    assert np.abs(travel).max() <= 2.8 + 1e-4 and np.abs(travel).max() > 1.5


def test_rotation_by_90_degrees_turns_counter_clockwise_about_the_centre():
    # Centre (13.5, 13.5): (row 5, col 20) is up-right of it; a quarter turn anticlockwise puts it up-left.
    rotated = apply_transforms(_dot(5, 20), _fixed(angle=90.0)).numpy()
    assert _peak(rotated) == (7, 5) and rotated.max() > 0.99
    back = apply_transforms(rotated, _fixed(angle=-90.0)).numpy()
    assert _peak(back) == (5, 20)


def test_zoom_in_enlarges_the_ink_bounding_box():
    square = _dot(10, 10, size=8)

    def extent(image):
        rows, cols = np.nonzero(np.asarray(image)[0, ..., 0] > 0.5)
        return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1

    assert extent(apply_transforms(square, _fixed(zoom=1.5))) == (12, 12)
    assert extent(apply_transforms(square, _fixed(zoom=0.5))) == (4, 4)


def test_positive_shear_pushes_the_bottom_right():
    bar = np.zeros((1, 28, 28, 1), np.float32)
    bar[0, 4:24, 13:15, 0] = 1.0
    sheared = apply_transforms(bar, _fixed(shear=20.0)).numpy()[0, ..., 0]
    top, bottom = sheared[6].argmax(), sheared[21].argmax()
    assert bottom - top >= 4


def test_seeded_bitwise_repeatable_and_different_across_seeds_and_images():
    images = np.repeat(_digit_like_batch(1), 8, axis=0)
    first = random_affine(images, SEED, AffineRanges()).numpy()
    again = random_affine(images, tf.constant([7, 3], tf.int32), AffineRanges()).numpy()
    other = random_affine(images, tf.constant([7, 4], tf.int64), AffineRanges()).numpy()
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert len({first[index].tobytes() for index in range(8)}) == 8  # same input, eight different warps
    assert np.array_equal(augment_seed(7, 3).numpy(), [7, 3])


def test_draws_are_spread_over_the_whole_range():
    ranges = AffineRanges(rotate_degrees=10.0, shift_fraction=0.1, zoom_fraction=0.1)
    t = affine_matrices(2000, SEED, ranges).numpy()
    zoom = 1.0 / np.sqrt(t[:, 0] * t[:, 4] - t[:, 1] * t[:, 3])  # det(A^-1) = 1 / zoom**2
    angle = np.degrees(np.arctan2(t[:, 1], t[:, 0]))  # shear 0: A^-1 = R(-angle) / zoom
    assert 0.9 <= zoom.min() < 0.91 and 1.09 < zoom.max() <= 1.1
    assert -10.0 <= angle.min() < -9.8 and 9.8 < angle.max() <= 10.0


def test_works_in_tf_function_with_unknown_batch_size():
    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32),
                                  tf.TensorSpec([2], tf.int64)])
    def augment(images, seed):
        return random_affine(images, seed, AffineRanges(shear_degrees=5.0))

    for count in (3, 5):
        images = _digit_like_batch(count)
        out = augment(images, SEED).numpy()
        assert out.shape == images.shape
        assert np.array_equal(out, random_affine(images, SEED, AffineRanges(shear_degrees=5.0)).numpy())
    assert augment.experimental_get_tracing_count() == 1


def test_never_flips_an_asymmetric_shape():
    # An L: stroke on the left, foot to the right. A mirror would move its mass to the left half.
    shape = np.zeros((1, 28, 28, 1), np.float32)
    shape[0, 4:24, 8:11, 0] = 1.0
    shape[0, 21:24, 8:24, 0] = 1.0
    col_offset = _centre_of_mass(shape)[0, 1] - 13.5
    assert col_offset < -1.0
    batch = np.repeat(shape, 500, axis=0)
    out = random_affine(batch, SEED, AffineRanges(rotate_degrees=10.0, shift_fraction=0.0,
                                                   zoom_fraction=0.1, shear_degrees=10.0))
    offsets = _centre_of_mass(out)[:, 1] - 13.5
    assert (offsets < 0).all()
    transforms = affine_matrices(500, SEED, AffineRanges(rotate_degrees=180.0, shear_degrees=45.0)).numpy()
    assert (transforms[:, 0] * transforms[:, 4] - transforms[:, 1] * transforms[:, 3] > 0).all()


@pytest.mark.parametrize("bad", [dict(rotate_degrees=-1.0), dict(rotate_degrees=181.0),
                                 dict(shift_fraction=0.6), dict(zoom_fraction=1.0),
                                 dict(zoom_fraction=-0.1), dict(shear_degrees=80.0),
                                 dict(shift_fraction=float("nan")), dict(rotate_degrees="10")])
def test_validate_rejects_negative_or_absurd_ranges(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        AffineRanges(**bad).validate()
    with pytest.raises(ValueError):
        random_affine(_digit_like_batch(1), SEED, AffineRanges(**bad))


def test_validate_accepts_the_defaults_and_the_limits():
    AffineRanges().validate()
    AffineRanges(rotate_degrees=180.0, shift_fraction=0.5, zoom_fraction=0.99, shear_degrees=45.0).validate()


def test_preview_grid_puts_the_original_first_then_distinct_copies():
    images = _digit_like_batch(3)[..., 0]
    grid = preview_grid(images, seed=5, ranges=AffineRanges(), copies=4)
    assert grid.shape == (3 * 28, 5 * 28) and grid.dtype == np.float32
    assert np.array_equal(grid[28:56, :28], images[1])
    tiles = [grid[28:56, 28 * k:28 * (k + 1)] for k in range(1, 5)]
    assert len({tile.tobytes() for tile in tiles}) == 4
    assert np.array_equal(grid, preview_grid(images, seed=5, ranges=AffineRanges(), copies=4))
