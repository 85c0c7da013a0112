"""Phantoms on the normalised attenuation scale, x-first."""

from __future__ import annotations

import numpy as np
import pytest

from recon import Geometry
from recon.data.families import phantom
from recon.data.phantoms import (
    EllipseFamily,
    ellipses_image,
    forbild,
    paint_ellipses,
    random_ellipses,
    shepp_logan,
)
from recon.physics import MU_MAX, MU_WATER, hu_to_normalized


def test_random_ellipses_are_seeded_and_in_range():
    first = random_ellipses((17, 11), seed=4)
    assert first.shape == (17, 11) and first.dtype == np.float32
    np.testing.assert_array_equal(first, random_ellipses((17, 11), seed=4))
    assert not np.array_equal(first, random_ellipses((17, 11), seed=5))
    assert 0 <= first.min() and first.max() <= 1


def test_random_ellipses_have_air_outside_a_soft_tissue_body():
    family = EllipseFamily(inserts=(0, 0), body_hu=(40.0, 40.0), body_offset=0.0)
    image = random_ellipses((41, 31), seed=0, family=family)
    corners = image[[0, 0, -1, -1], [0, -1, 0, -1]]
    np.testing.assert_allclose(corners, hu_to_normalized(-1000.0), rtol=1e-6)
    assert image[20, 15] == pytest.approx(hu_to_normalized(40.0), rel=1e-6)


def test_overlapping_inserts_replace_rather_than_add():
    family = EllipseFamily(inserts=(12, 12), insert_hu=(1000.0, 1000.0), body_hu=(0.0, 0.0))
    image = random_ellipses(64, seed=1, family=family)
    bone, water = hu_to_normalized(1000.0), hu_to_normalized(0.0)
    assert np.isclose(image, bone, rtol=1e-5).sum() > 20  # several whole inserts
    assert image.max() <= bone + 1e-6  # twelve overlapping inserts never exceed their value
    assert np.isclose(image, water, rtol=1e-5).sum() > 100


def test_paint_ellipses_matches_the_additive_image_without_overlap():
    rows = np.array([[0.5, 0.3, 0.2, -0.4, 0.1, 30.0], [0.2, 0.2, 0.25, 0.45, -0.3, 0.0]])
    np.testing.assert_allclose(paint_ellipses((21, 15), rows, supersampling=3),
                               ellipses_image((21, 15), rows, supersampling=3), atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"inserts": (5, 2)}, {"body_axes": (0.6, 1.2)}, {"supersampling": 0}])
def test_inconsistent_families_are_refused(kwargs):
    with pytest.raises(ValueError):
        EllipseFamily(**kwargs)


def test_forbild_is_odl_forbild_on_the_normalised_scale():
    import odl
    from odl.core.phantom import forbild as odl_forbild

    geometry = Geometry.parallel(image_size=(23, 17), num_angles=3, num_detectors=5)
    ours = forbild(geometry, supersampling=1)
    space = odl.uniform_discr(geometry.image_min, geometry.image_max, geometry.image_shape)
    reference = odl_forbild(space, scale="m").asarray() * MU_WATER / MU_MAX
    assert ours.shape == (23, 17)
    np.testing.assert_allclose(ours, reference, rtol=1e-6)
    smooth = forbild(geometry)  # anti-aliased: same mean up to the partial-volume edges
    assert abs(smooth.mean() - ours.mean()) < 0.05 * ours.mean()


def test_phantom_dispatch():
    geometry = Geometry.parallel(image_size=(19, 13), num_angles=3, num_detectors=5)
    np.testing.assert_array_equal(phantom("shepp-logan", geometry), shepp_logan((19, 13)))
    np.testing.assert_array_equal(phantom("ellipses", geometry, seed=[3, 1]),
                                  random_ellipses((19, 13), seed=[3, 1]))
    with pytest.raises(ValueError, match="seed"):
        phantom("ellipses", geometry)
    with pytest.raises(ValueError, match="expected one of"):
        phantom("disk", geometry)


def brute_force_ellipses(shape, ellipses, supersampling):
    """Reference: every sample of the whole grid tested against every ellipse."""
    nx, ny = shape
    s = supersampling
    x = ((np.arange(nx * s) + 0.5) / (nx * s) * 2 - 1)[:, None]
    y = ((np.arange(ny * s) + 0.5) / (ny * s) * 2 - 1)[None, :]
    image = np.zeros((nx * s, ny * s))
    for value, a, b, x0, y0, angle in ellipses:
        t = np.deg2rad(angle)
        u, v = (x - x0) * np.cos(t) + (y - y0) * np.sin(t), -(x - x0) * np.sin(t) + (y - y0) * np.cos(t)
        image += value * ((u / a) ** 2 + (v / b) ** 2 <= 1)
    return image.reshape(nx, s, ny, s).mean(axis=(1, 3))


@pytest.mark.parametrize("supersampling", [1, 3])
def test_ellipses_image_samples_only_bounding_boxes_but_matches_the_whole_grid(supersampling):
    rows = np.array([[0.5, 0.3, 0.1, -0.85, 0.9, 35.0],  # crosses two edges
                     [0.2, 0.6, 0.25, 0.1, -0.3, 110.0],
                     [1.0, 2.0, 2.0, 0.0, 0.0, 0.0]])  # larger than the domain
    np.testing.assert_allclose(ellipses_image((23, 14), rows, supersampling=supersampling),
                               brute_force_ellipses((23, 14), rows, supersampling), atol=1e-6)
