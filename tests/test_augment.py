"""Random affine augmentation: geometry of known transforms, seeding, graph mode, and no flips."""

import numpy as np
import pytest
import tensorflow as tf

from digitnet.training.augment import (
    AffineRanges,
    affine_matrices,
    apply_transforms,
    augment_seed,
    preview_grid,
    random_affine,
    transform_parameters,
)

SEED = tf.constant([7, 3], tf.int64)
NONE = AffineRanges(rotate_degrees=0.0, shift_fraction=0.0, zoom_fraction=0.0, shear_degrees=0.0)


def _dot(row: int, col: int, size: int = 1) -> np.ndarray:
    image = np.zeros((1, 28, 28, 1), np.float32)
    image[0, row : row + size, col : col + size, 0] = 1.0
    return image


def _digit_like_batch(count: int, seed: int = 0) -> np.ndarray:
    """Bars and blobs of varying position and size, over faint noise: distinct, asymmetric shapes."""
    rng = np.random.default_rng(seed)
    images = rng.random((count, 28, 28, 1), dtype=np.float32) * 0.1
    for index in range(count):
        top, left = rng.integers(4, 12, size=2)
        images[index, top : top + 12, left + 8 : left + 11, 0] = 1.0  # vertical stroke
        images[index, top : top + 3, left : left + 11, 0] = 0.8  # a bar on top, like a 7
    return images


def _fixed(angle=0.0, shear=0.0, zoom=1.0, shift_x=0.0, shift_y=0.0):
    return transform_parameters(
        *(np.array([value], np.float32) for value in (angle, shear, zoom, shift_x, shift_y))
    )


def _peak(image) -> tuple[int, int]:
    image = np.asarray(image)[0, ..., 0]
    return tuple(int(i) for i in np.unravel_index(image.argmax(), image.shape))


def _centre_of_mass(images) -> np.ndarray:
    """(B, 2) centre of mass as (row, col)."""
    images = np.asarray(images)[..., 0]
    rows, cols = np.mgrid[0:28, 0:28]
    mass = images.sum(axis=(1, 2))
    return np.stack(
        [(images * rows).sum(axis=(1, 2)) / mass, (images * cols).sum(axis=(1, 2)) / mass], axis=1
    )


def test_keeps_shape_dtype_range_and_batch_order():
    images = _digit_like_batch(16)
    out = random_affine(images, SEED, AffineRanges())
    assert out.shape == images.shape and out.dtype == tf.float32
    out = out.numpy()
    assert out.min() >= 0.0 and out.max() <= 1.0
    tiny = random_affine(
        images,
        SEED,
        AffineRanges(rotate_degrees=1.0, shift_fraction=0.01, zoom_fraction=0.01, shear_degrees=1.0),
    ).numpy()
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
    shifted = random_affine(
        square, SEED, AffineRanges(rotate_degrees=0.0, shift_fraction=0.1, zoom_fraction=0.0)
    )
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
    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32), tf.TensorSpec([2], tf.int64)])
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
    out = random_affine(
        batch,
        SEED,
        AffineRanges(rotate_degrees=10.0, shift_fraction=0.0, zoom_fraction=0.1, shear_degrees=10.0),
    )
    offsets = _centre_of_mass(out)[:, 1] - 13.5
    assert (offsets < 0).all()
    transforms = affine_matrices(500, SEED, AffineRanges(rotate_degrees=180.0, shear_degrees=45.0)).numpy()
    assert (transforms[:, 0] * transforms[:, 4] - transforms[:, 1] * transforms[:, 3] > 0).all()


@pytest.mark.parametrize(
    "bad",
    [
        dict(rotate_degrees=-1.0),
        dict(rotate_degrees=181.0),
        dict(shift_fraction=0.6),
        dict(zoom_fraction=1.0),
        dict(zoom_fraction=-0.1),
        dict(shear_degrees=80.0),
        dict(shift_fraction=float("nan")),
        dict(rotate_degrees="10"),
    ],
)
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
    tiles = [grid[28:56, 28 * k : 28 * (k + 1)] for k in range(1, 5)]
    assert len({tile.tobytes() for tile in tiles}) == 4
    assert np.array_equal(grid, preview_grid(images, seed=5, ranges=AffineRanges(), copies=4))


# ---------------------------------------------------------------- handwriting style

from digitnet import cli  # noqa: E402
from digitnet.commands.jobs import _train_flags  # noqa: E402
from digitnet.commands.training import config_from_args  # noqa: E402
from digitnet.training.augment import StyleRanges, augment_batch  # noqa: E402
from digitnet.training.style_augment import (  # noqa: E402
    LOW_RES_SIDES,
    OCCLUSION_PROBABILITY,
    bilinear_sample,
    blur,
    change_stroke_width,
    displacement_field,
    elastic_distortion,
    gaussian_blur,
    ink_level,
    low_resolution,
    occlude,
    shrink_and_grow_matrix,
    stroke_width,
)

OTHER_SEED = tf.constant([7, 4], tf.int64)
# Each style change alone, at an amount that is clearly on: (name, call(images, seed, amount), amount).
STYLE_CHANGES = {
    "elastic": (lambda images, seed, amount: elastic_distortion(images, seed, amount, 4.0), 1.5),
    "stroke": (stroke_width, 1.0),
    "blur": (gaussian_blur, 1.5),
    "low_res": (low_resolution, 0.5),
    "ink": (ink_level, 0.4),
    "occlusion": (occlude, 0.5),
}
STYLE_FIELDS = {
    "elastic": "elastic_alpha",
    "stroke": "stroke_pixels",
    "blur": "blur_sigma",
    "low_res": "low_res_probability",
    "ink": "ink_fraction",
    "occlusion": "occlusion_fraction",
}


def _ink_mass(images) -> np.ndarray:
    return np.asarray(images).sum(axis=(1, 2, 3))


def _max_gradient(images) -> np.ndarray:
    images = np.asarray(images)[..., 0]
    return np.maximum(
        np.abs(np.diff(images, axis=1)).max(axis=(1, 2)), np.abs(np.diff(images, axis=2)).max(axis=(1, 2))
    )


@pytest.mark.parametrize("name", STYLE_CHANGES)
def test_each_style_change_keeps_shape_and_range_is_seeded_and_changes_images(name):
    change, amount = STYLE_CHANGES[name]
    images = _digit_like_batch(32)
    out = change(images, SEED, amount)
    assert out.shape == images.shape and out.dtype == tf.float32
    out = out.numpy()
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.array_equal(out, change(images, tf.constant([7, 3], tf.int32), amount).numpy())
    assert not np.array_equal(out, change(images, OTHER_SEED, amount).numpy())
    changed = [not np.array_equal(out[i], images[i]) for i in range(32)]
    assert sum(changed) >= 8  # low resolution and occlusion touch only some images, on purpose
    assert np.array_equal(change(images, SEED, 0.0).numpy(), images)  # zero: exactly the input


@pytest.mark.parametrize("name", STYLE_CHANGES)
def test_each_style_change_runs_compiled_with_unknown_batch_size(name):
    change, amount = STYLE_CHANGES[name]

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32), tf.TensorSpec([2], tf.int64)])
    def compiled(images, seed):
        return change(images, seed, amount)

    for count in (3, 5):
        images = _digit_like_batch(count)
        np.testing.assert_allclose(
            compiled(images, SEED).numpy(), change(images, SEED, amount).numpy(), atol=1e-5
        )
    assert compiled.experimental_get_tracing_count() == 1


def test_bilinear_sample_reads_pixels_interpolates_and_is_zero_outside():
    image = _digit_like_batch(1)
    rows, cols = np.meshgrid(np.arange(28, dtype=np.float32), np.arange(28, dtype=np.float32), indexing="ij")
    assert np.array_equal(bilinear_sample(image, rows[None], cols[None]).numpy(), image)
    moved = bilinear_sample(image, rows[None] - 2.0, cols[None] + 0.5).numpy()[0, ..., 0]
    expected = np.zeros((28, 28), np.float32)  # row r reads r - 2; column c halfway between c, c + 1
    expected[2:, :27] = 0.5 * (image[0, :26, :27, 0] + image[0, :26, 1:, 0])
    expected[2:, 27] = 0.5 * image[0, :26, 27, 0]  # half the edge pixel, half the zero beyond it
    np.testing.assert_allclose(moved, expected, atol=1e-6)
    far = bilinear_sample(image, rows[None] + 100.0, cols[None] - 100.0).numpy()
    assert not far.any()


def test_elastic_field_has_the_asked_rms_everywhere_and_is_smooth():
    field = displacement_field(400, 28, 28, SEED, alpha=2.0, sigma=4.0).numpy()  # (B, 2, H, W)
    rms = np.sqrt((field**2).mean(axis=0))  # per component and pixel, over images
    assert 1.8 < rms.mean() < 2.2
    assert 1.6 < rms[:, 0, 0].min() and rms[:, 0, 0].max() < 2.4  # the corner as strong as the rest
    neighbours = np.corrcoef(field[:, 0, 10, 10], field[:, 0, 10, 11])[0, 1]
    far_apart = np.corrcoef(field[:, 0, 10, 2], field[:, 0, 10, 25])[0, 1]
    assert neighbours > 0.9 and abs(far_apart) < 0.3
    rough = displacement_field(400, 28, 28, SEED, alpha=2.0, sigma=1.0).numpy()
    assert np.corrcoef(rough[:, 0, 10, 10], rough[:, 0, 10, 11])[0, 1] < neighbours


def test_elastic_moves_ink_further_with_a_larger_alpha():
    images = _digit_like_batch(64)

    def mean_change(alpha):
        return np.abs(elastic_distortion(images, SEED, alpha).numpy() - images).mean()

    assert 0 < mean_change(0.5) < mean_change(2.0)


def test_stroke_dilation_raises_ink_erosion_lowers_it_fractions_between():
    images = _digit_like_batch(8)
    mass = {
        amount: _ink_mass(change_stroke_width(images, np.full(8, amount, np.float32)))
        for amount in (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0)
    }
    assert np.array_equal(change_stroke_width(images, np.zeros(8, np.float32)).numpy(), images)
    assert (mass[-2.0] < mass[-1.0]).all() and (mass[-1.0] < mass[-0.5]).all()
    assert (mass[-0.5] < mass[0.0]).all() and (mass[0.0] < mass[0.5]).all()
    assert (mass[0.5] < mass[1.0]).all() and (mass[1.0] < mass[2.0]).all()
    np.testing.assert_allclose(mass[0.5], (mass[0.0] + mass[1.0]) / 2, rtol=1e-5)  # a blend
    # The bar on top is 3 rows: one pixel more at each edge makes it 5.
    bar = np.zeros((1, 28, 28, 1), np.float32)
    bar[0, 10:13, 5:20] = 1.0
    thick = change_stroke_width(bar, np.ones(1, np.float32)).numpy()[0, :, 12, 0]
    assert np.array_equal(np.nonzero(thick)[0], np.arange(9, 14))
    thin = change_stroke_width(bar, -np.ones(1, np.float32)).numpy()[0, :, 12, 0]
    assert np.array_equal(np.nonzero(thin)[0], [11])


def test_random_stroke_width_both_thickens_and_thins():
    images = np.repeat(_digit_like_batch(1), 64, axis=0)
    mass = _ink_mass(stroke_width(images, SEED, 1.5))
    assert (mass > _ink_mass(images) * 1.2).sum() > 10 and (mass < _ink_mass(images) * 0.8).sum() > 10


def test_blur_lowers_the_sharpest_edge_keeps_ink_and_zero_sigma_is_identity():
    images = _digit_like_batch(8)
    sharp = _max_gradient(images)
    soft = blur(images, np.full(8, 1.5, np.float32)).numpy()
    softer = blur(images, np.full(8, 3.0, np.float32)).numpy()
    assert (_max_gradient(soft) < 0.7 * sharp).all() and (_max_gradient(softer) < _max_gradient(soft)).all()
    strokes = np.where(images > 0.5, images, 0.0)  # no faint noise at the border, where ink fades out
    np.testing.assert_allclose(
        _ink_mass(blur(strokes, np.full(8, 1.5, np.float32))), _ink_mass(strokes), rtol=1e-4
    )
    assert np.array_equal(blur(images, np.zeros(8, np.float32)).numpy(), images)


def test_low_resolution_averages_then_interpolates_and_hits_about_its_share():
    for side in LOW_RES_SIDES:
        matrix = shrink_and_grow_matrix(28, side)
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-6)  # flat stays flat
        assert np.linalg.matrix_rank(matrix) == side  # only `side` pixels' worth of detail survive
    images = _digit_like_batch(400)
    out = low_resolution(images, SEED, 0.5).numpy()
    changed = np.array([not np.array_equal(out[i], images[i]) for i in range(400)])
    assert 0.4 < changed.mean() < 0.6
    assert (_max_gradient(out[changed]) < _max_gradient(images[changed])).mean() > 0.9
    everyone = low_resolution(images[:20], SEED, 1.0).numpy()
    assert all(not np.array_equal(everyone[i], images[i]) for i in range(20))


def test_ink_level_fades_full_ink_within_range_and_bends_grey_both_ways():
    binary = np.repeat((_digit_like_batch(1) > 0.5).astype(np.float32), 200, axis=0)
    faded = ink_level(binary, SEED, 0.4).numpy()
    assert not faded[binary == 0].any()  # paper stays paper
    levels = faded.max(axis=(1, 2, 3))  # gamma leaves 1 at 1: only the factor shows
    assert 0.6 <= levels.min() < 0.65 and 0.95 < levels.max() <= 1.0
    grey = np.full((200, 28, 28, 1), 0.5, np.float32)
    bent = ink_level(grey, SEED, 0.4).numpy()[:, 0, 0, 0] / levels  # divide out the factor
    assert bent.min() < 0.5 * 0.9 and bent.max() > 0.5 * 1.1  # gamma above and below 1
    assert bent.min() >= 0.5**1.4 - 1e-5 and bent.max() <= 0.5 ** (1 / 1.4) + 1e-5


def test_occlusion_erases_one_rectangle_in_about_half_the_images():
    ones = np.ones((400, 28, 28, 1), np.float32)
    out = occlude(ones, SEED, 0.5).numpy()[..., 0]
    erased = out == 0
    assert set(np.unique(out)) <= {0.0, 1.0}
    hit = erased.any(axis=(1, 2))
    assert abs(hit.mean() - OCCLUSION_PROBABILITY) < 0.1
    for mask in erased[hit]:
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        assert mask.sum() == len(rows) * len(cols)  # a filled rectangle
        assert rows[-1] - rows[0] + 1 == len(rows) and cols[-1] - cols[0] + 1 == len(cols)
        assert len(rows) <= 14 and len(cols) <= 14  # at most half the side


def test_augment_batch_with_style_off_is_bit_identical_to_random_affine():
    images = _digit_like_batch(16)
    for affine in (AffineRanges(), AffineRanges(shear_degrees=5.0)):
        reference = random_affine(images, SEED, affine).numpy()
        assert np.array_equal(augment_batch(images, SEED, affine, StyleRanges()).numpy(), reference)
        assert np.array_equal(augment_batch(images, SEED, affine, None).numpy(), reference)
        # A different smoothness alone is still "off": it only shapes an elastic field that is 0.
        assert np.array_equal(
            augment_batch(images, SEED, affine, StyleRanges(elastic_sigma=2.0)).numpy(), reference
        )

    # Compiled as training compiles it. (Eager and graph results may differ in the last bits, as
    # random_affine's own do; what must match is the same mode before and after.)
    signature = [tf.TensorSpec([None, 28, 28, 1], tf.float32), tf.TensorSpec([2], tf.int64)]
    compiled = tf.function(
        lambda batch, seed: augment_batch(batch, seed, AffineRanges(), StyleRanges()),
        input_signature=signature,
    )
    before = tf.function(
        lambda batch, seed: random_affine(batch, seed, AffineRanges()), input_signature=signature
    )
    assert np.array_equal(compiled(images, SEED).numpy(), before(images, SEED).numpy())


def test_style_changes_do_not_disturb_the_affine_draws():
    # Occlusion comes after the affine step: outside its rectangles every pixel is the affine one.
    images = _digit_like_batch(64)
    affine = random_affine(images, SEED, AffineRanges()).numpy()
    occluded = augment_batch(images, SEED, AffineRanges(), StyleRanges(occlusion_fraction=0.5)).numpy()
    differs = occluded != affine
    assert differs.any() and not occluded[differs].any()


def test_augment_batch_with_every_style_change_is_seeded_and_compiles_once():
    style = StyleRanges(
        elastic_alpha=1.5,
        stroke_pixels=1.0,
        blur_sigma=1.0,
        low_res_probability=0.3,
        ink_fraction=0.3,
        occlusion_fraction=0.3,
    )

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32), tf.TensorSpec([2], tf.int64)])
    def compiled(batch, seed):
        return augment_batch(batch, seed, AffineRanges(), style)

    images = _digit_like_batch(16)
    out = compiled(images, SEED).numpy()
    assert out.shape == images.shape and out.min() >= 0.0 and out.max() <= 1.0
    assert np.array_equal(out, compiled(images, SEED).numpy())
    assert not np.array_equal(out, compiled(images, OTHER_SEED).numpy())
    assert not np.array_equal(out, random_affine(images, SEED, AffineRanges()).numpy())
    compiled(images[:5], SEED)
    assert compiled.experimental_get_tracing_count() == 1


def test_style_ranges_default_off_and_identity():
    assert StyleRanges().is_identity() and StyleRanges().elastic_sigma == 4.0
    StyleRanges().validate()
    for field in STYLE_FIELDS.values():
        assert not StyleRanges(**{field: 0.5}).is_identity()
    StyleRanges(
        elastic_alpha=8.0,
        elastic_sigma=14.0,
        stroke_pixels=2.0,
        blur_sigma=4.0,
        low_res_probability=1.0,
        ink_fraction=0.9,
        occlusion_fraction=1.0,
    ).validate()


@pytest.mark.parametrize(
    "bad",
    [
        dict(elastic_alpha=-1.0),
        dict(elastic_alpha=float("nan")),
        dict(elastic_sigma=0.0),
        dict(elastic_sigma=float("inf")),
        dict(stroke_pixels=2.5),
        dict(stroke_pixels=-0.5),
        dict(blur_sigma=-1.0),
        dict(low_res_probability=1.5),
        dict(ink_fraction=1.0),
        dict(occlusion_fraction=-0.1),
        dict(occlusion_fraction="half"),
        dict(stroke_pixels=True),
    ],
)
def test_style_ranges_validate_names_the_bad_field(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        StyleRanges(**bad).validate()
    with pytest.raises(ValueError, match=next(iter(bad))):
        augment_batch(_digit_like_batch(1), SEED, AffineRanges(), StyleRanges(**bad))


def test_preview_grid_shows_the_style_changes():
    images = _digit_like_batch(2)[..., 0]
    style = StyleRanges(elastic_alpha=2.0, stroke_pixels=1.0)
    plain = preview_grid(images, seed=5, ranges=NONE, copies=3)
    styled = preview_grid(images, seed=5, ranges=NONE, copies=3, style=style)
    assert np.array_equal(styled[:, :28], images.reshape(56, 28))  # originals untouched
    assert np.array_equal(plain[:, 28:], np.tile(images.reshape(56, 28), (1, 3)))
    assert not np.array_equal(styled[:, 28:], plain[:, 28:])


def test_augment_preview_command_writes_a_png_with_style_flags(tmp_path, capsys):
    out = tmp_path / "X.png"
    assert (
        cli.main(
            [
                "augment-preview",
                "--elastic",
                "2",
                "--stroke",
                "1",
                "--count",
                "2",
                "--copies",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in capsys.readouterr().out


@pytest.mark.parametrize(
    "flag, value, field",
    [
        ("--elastic", "-1", "elastic_alpha"),
        ("--stroke", "3", "stroke_pixels"),
        ("--low-res", "nan", "low_res_probability"),
    ],
)
def test_augment_preview_bad_style_value_is_one_line_and_exit_2(flag, value, field, tmp_path, capsys):
    assert cli.main(["augment-preview", flag, value, "--out", str(tmp_path / "X.png")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and field in error[0]
    assert not (tmp_path / "X.png").exists()


def test_style_flags_reach_the_training_config_and_ensemble_members():
    args = cli.build_parser().parse_args(
        [
            "train",
            "--recipe",
            "strong",
            "--elastic",
            "1.5",
            "--elastic-sigma",
            "5",
            "--stroke",
            "0.5",
            "--blur",
            "1",
            "--low-res",
            "0.2",
            "--ink",
            "0.3",
            "--occlude",
            "0.25",
        ]
    )
    style = config_from_args(args).style_ranges()
    assert style == StyleRanges(1.5, 5.0, 0.5, 1.0, 0.2, 0.3, 0.25)
    plain = config_from_args(cli.build_parser().parse_args(["train", "--augment"]))
    assert plain.style_ranges().is_identity()
    members = cli.build_parser().parse_args(
        ["ensemble", "train", "--out", "x", "--augment", "--elastic", "1.5", "--low-res", "0.2"]
    )
    assert _train_flags(members) == ["--elastic", "1.5", "--low-res", "0.2", "--augment"]
