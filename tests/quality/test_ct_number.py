"""CT numbers and uniformity on noise-free phantoms and on noise of known mean."""

from __future__ import annotations

import pytest
import torch

from recon import Geometry
from recon.data.qa import CT_NUMBERS, ct_number_module, water_cylinder
from recon.physics import hu_to_normalized, normalized_to_hu
from recon.quality.ct_number import ct_numbers, uniformity
from recon.quality.roi import Insert, pixel_coordinates

SMALL = Geometry.lodopab_small()


def test_the_noise_free_phantom_measures_its_nominal_numbers():
    phantom = ct_number_module()
    result = ct_numbers(phantom.image(SMALL), SMALL, phantom.inserts)
    assert result.mean.shape == (1, 1, 5) and [i.name for i in result.inserts] == list(CT_NUMBERS)
    torch.testing.assert_close(result.mean[0, 0], torch.tensor(list(CT_NUMBERS.values()), dtype=torch.float64),
                               atol=0.01, rtol=0)
    assert float(result.error.abs().max()) < 0.01 and float(result.std.max()) < 0.01


def test_noise_of_known_mean_and_spread_is_measured():
    phantom = ct_number_module()
    hu = normalized_to_hu(phantom.image(SMALL).double()).expand(32, 1, -1, -1)
    noise = 20 * torch.randn(hu.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    result = ct_numbers(hu_to_normalized(hu + 5 + noise, clip=False), SMALL, phantom.inserts)
    assert result.mean.shape == (32, 1, 5)
    # about 43 pixels an insert and 32 images: the mean error is 5 HU to within 20 / sqrt(1376) = 0.54 HU
    torch.testing.assert_close(result.error.mean(dim=0)[0], torch.full((5,), 5.0, dtype=torch.float64), atol=2.2,
                               rtol=0)
    assert float(result.std.mean()) == pytest.approx(20, rel=0.05)


def test_uniformity_is_zero_for_water_and_finds_a_known_cupping():
    body = water_cylinder().body
    x = water_cylinder().image(SMALL)
    numbers, deviation = uniformity(x, SMALL, body)
    assert [r.name for r in numbers.inserts] == ["centre", "+x", "+y", "-x", "-y"]
    assert float(deviation) < 0.01
    u, v = pixel_coordinates(SMALL)
    capped = normalized_to_hu(x.double()) + 20 * (u**2 + v**2) / 100**2  # +20 HU at the edge, quadratic
    _, deviation = uniformity(hu_to_normalized(capped, clip=False), SMALL, body)
    # mean of r^2 over a disc of 10 mm at 80 mm: 80^2 + 10^2 / 2; at the centre 10^2 / 2
    assert float(deviation) == pytest.approx(20 * 80**2 / 100**2, abs=0.3)


def test_inserts_outside_the_field_or_below_a_pixel_are_refused():
    x = water_cylinder().image(SMALL)
    with pytest.raises(ValueError, match="insert 'far': expected inside the image field"):
        ct_numbers(x, SMALL, (Insert("far", 125.0, 0.0, 10.0, 0.0),))
    with pytest.raises(ValueError, match="insert 'dot': expected a region of at least one pixel"):
        ct_numbers(x, SMALL, (Insert("dot", 0.0, 0.0, 0.3, 0.0),))
    with pytest.raises(ValueError, match="expected a fraction in \\(0, 1\\]"):
        ct_numbers(x, SMALL, water_cylinder().inserts)
