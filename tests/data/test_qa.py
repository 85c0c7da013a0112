"""QA phantoms: the same object in mm and HU at every grid, area-weighted edges, seeded noise realisations."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from recon import Geometry, RayTransform
from recon.data.qa import (
    CT_NUMBERS,
    LOW_CONTRAST_RODS,
    ct_number_module,
    low_contrast_module,
    noise_realisations,
    resolution_module,
    water_cylinder,
)
from recon.physics import normalized_to_hu, simulate
from recon.quality.roi import disc_mask, pixel_size_mm

PHANTOMS = (water_cylinder(), ct_number_module(), resolution_module(), low_contrast_module())


def excess_area(phantom, geometry) -> float:
    """``integral (HU + 1000) dA`` of the rasterised phantom, HU mm²."""
    hu = normalized_to_hu(phantom.image(geometry).double())
    return float((hu + 1000).sum()) * pixel_size_mm(geometry) ** 2


@pytest.mark.parametrize("phantom", PHANTOMS, ids=lambda p: p.name)
@pytest.mark.parametrize("size", [64, 128, 181])
def test_every_grid_holds_the_same_object(phantom, size):
    geometry = Geometry.parallel(image_size=size, num_angles=10, num_detectors=91)
    expected = math.pi * phantom.body.radius**2 * (phantom.body.hu + 1000) + sum(
        math.pi * insert.radius**2 * (insert.hu - phantom.body.hu) for insert in phantom.inserts)
    assert excess_area(phantom, geometry) == pytest.approx(expected, rel=5e-4)


def test_edges_are_area_weighted():
    """A 3 mm rod on 2 mm pixels keeps its contrast times its area, to within the supersampling."""
    geometry = Geometry.lodopab_small()
    phantom = low_contrast_module()
    rod = phantom.inserts[0]
    assert (2 * rod.radius, rod.hu) == LOW_CONTRAST_RODS[0] == (3.0, 14.0)
    hu = normalized_to_hu(phantom.image(geometry).double())[0, 0]
    window = disc_mask(geometry, dataclasses.replace(rod, radius=rod.radius + 3))
    integral = float(hu[window].sum()) * pixel_size_mm(geometry) ** 2
    assert integral == pytest.approx(math.pi * rod.radius**2 * rod.hu, rel=0.002)
    values = hu[window].numpy()
    assert 0 < values.max() < 14 and len(np.unique(values.round(3))) > 3  # partial pixels, not a binary mask


def test_the_layouts_and_their_values():
    assert [i.name for i in ct_number_module().inserts] == list(CT_NUMBERS)
    assert [i.hu for i in ct_number_module().inserts] == [-1000.0, -95.0, 0.0, 120.0, 900.0]
    assert [(i.name, i.hu) for i in resolution_module().inserts] == [
        ("disc +340 HU", 340.0), ("disc +40 HU", 40.0), ("wire", 3000.0)]
    assert [(2 * i.radius, i.hu) for i in low_contrast_module().inserts] == list(LOW_CONTRAST_RODS)
    assert all(p.body.radius == 100 and p.body.hu == 0 for p in PHANTOMS)
    hu = normalized_to_hu(water_cylinder().image(Geometry.lodopab_small()).double())
    assert float(hu[0, 0, 64, 64]) == pytest.approx(0, abs=1e-3) and float(hu[0, 0, 0, 0]) == pytest.approx(-1000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ct_number_module().inserts[0].hu = 5.0


def test_a_field_too_small_or_a_bad_supersampling_is_refused():
    with pytest.raises(ValueError, match="^water cylinder: expected inside the image field"):
        water_cylinder().image(Geometry.parallel(image_size=32, half_extent=0.05))
    with pytest.raises(ValueError, match="supersampling: expected a positive int, got 0"):
        water_cylinder().image(Geometry.lodopab_small(), supersampling=0)


def test_noise_realisations_are_seeded_simulations():
    geometry = Geometry.parallel(image_size=64, num_angles=30, num_detectors=91)
    A = RayTransform(geometry)
    x = water_cylinder().image(geometry)
    three = noise_realisations(x, A, 1000.0, 3, seed=7)
    assert three.shape == (3, 1, 30, 91) and three.dtype == torch.float32
    torch.testing.assert_close(noise_realisations(x, A, 1000.0, 2, seed=7), three[:2], rtol=0, atol=0)
    assert not torch.equal(three[0], three[1])
    assert not torch.equal(noise_realisations(x, A, 1000.0, 1, seed=8)[0], three[0])
    from recon.data.seeds import sample_seeds

    first = simulate(x, A, 1000.0, seed=[sample_seeds(7, 0, stream=20)[1]])
    torch.testing.assert_close(first, three[:1], rtol=0, atol=0)
    with pytest.raises(ValueError, match="count: expected a positive int, got 0"):
        noise_realisations(x, A, 1000.0, 0, seed=7)


def test_copies_of_the_rods_lie_opposite_each_other_and_bad_copies_are_refused():
    single, double = low_contrast_module(), low_contrast_module(copies=2)
    assert [i.name for i in double.inserts] == [i.name for i in single.inserts] * 2
    for first, copy in zip(double.inserts[:4], double.inserts[4:]):
        assert (first.radius, first.hu) == (copy.radius, copy.hu)
        assert (copy.x, copy.y) == pytest.approx((-first.x, -first.y), abs=1e-6)
    with pytest.raises(ValueError, match="copies: expected a positive int, got 0"):
        low_contrast_module(copies=0)
