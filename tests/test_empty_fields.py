"""Empty fields of printed forms: a validation family of non-digits."""

import numpy as np
import pytest

from digitnet.data import empty_fields


@pytest.mark.parametrize("kind", empty_fields.FIELD_KINDS)
def test_every_kind_prints_thin_lines_on_part_of_the_page(kind):
    lines = empty_fields.printed_lines(kind, 80, np.random.default_rng(0))
    assert lines.shape == (80, 80) and lines.dtype == np.float32
    assert 0.0 <= lines.min() and lines.max() <= 1.0
    inked = (lines > 0.5).mean()
    assert 0.002 < inked < 0.35, f"{kind}: {inked:.3f} of the page is line"


def test_a_field_is_dark_lines_on_light_paper_and_deterministic_by_seed():
    pages = [empty_fields.empty_field(np.random.default_rng(seed)) for seed in range(20)]
    assert all(page.dtype == np.uint8 and page.ndim == 2 and page.shape[0] == page.shape[1] for page in pages)
    assert all(np.median(page) > page.min() + 20 for page in pages)  # mostly paper, some darker line
    assert np.array_equal(pages[3], empty_fields.empty_field(np.random.default_rng(3)))
    assert not np.array_equal(pages[3], pages[4])


def test_an_unknown_kind_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown kind of empty field 'stamp'"):
        empty_fields.printed_lines("stamp", 40, np.random.default_rng(0))


def test_a_field_of_a_named_kind_keeps_the_random_draws_stream():
    rng = np.random.default_rng(5)
    rng.integers(40, 160)  # the side, drawn first
    drawn = empty_fields.FIELD_KINDS[int(rng.integers(0, len(empty_fields.FIELD_KINDS)))]
    other = next(kind for kind in empty_fields.FIELD_KINDS if kind != drawn)
    as_drawn = empty_fields.empty_field(np.random.default_rng(5))
    assert np.array_equal(empty_fields.empty_field(np.random.default_rng(5), drawn), as_drawn)
    assert not np.array_equal(empty_fields.empty_field(np.random.default_rng(5), other), as_drawn)
    with pytest.raises(ValueError, match="unknown kind of empty field 'stamp'"):
        empty_fields.empty_field(np.random.default_rng(5), "stamp")
