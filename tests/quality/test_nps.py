"""The NPS against known answers: Parseval, white noise, and noise of a known filter."""

from __future__ import annotations

import math

import pytest
import torch

from recon import Geometry
from recon.physics import hu_to_normalized
from recon.quality.nps import noise_power_spectrum, radial_average
from recon.quality.roi import crop_squares, pixel_size_mm

GEOMETRY = Geometry.parallel(image_size=64, num_angles=10, num_detectors=91)
CENTRES = ((-30.0, -30.0), (-30.0, 30.0), (30.0, -30.0), (30.0, 30.0))
SIGMA = 10.0  # HU


def white_noise(realisations: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return SIGMA * torch.randn(realisations, 1, 64, 64, generator=generator, dtype=torch.float64)


def test_the_integral_is_the_pixel_variance():
    hu = white_noise(16, seed=0)
    result = noise_power_spectrum(hu_to_normalized(hu, clip=False), GEOMETRY, size=32, centres=CENTRES)
    step = float(result.frequency[1] - result.frequency[0])
    integral = float(result.nps.sum()) * step**2
    # Parseval, exactly: the variance of the ensemble-mean-removed ROIs with R / (R - 1)
    rois = crop_squares(hu - hu.mean(dim=0, keepdim=True), GEOMETRY, CENTRES, 32)
    assert integral == pytest.approx(float(rois.pow(2).mean()) * 16 / 15, rel=1e-9)
    assert integral == pytest.approx(SIGMA**2, rel=0.02)
    assert float(result.noise[0]) == pytest.approx(math.sqrt(integral))


def test_white_noise_has_a_flat_nps():
    result = noise_power_spectrum(hu_to_normalized(white_noise(32, seed=1), clip=False), GEOMETRY, size=32,
                                  centres=CENTRES)
    level = SIGMA**2 * pixel_size_mm(GEOMETRY) ** 2
    assert result.nps.shape == (1, 32, 32) and result.radial.shape == (1, 17)
    torch.testing.assert_close(result.radial[0, 1:], torch.full((16,), level, dtype=torch.float64), rtol=0.15,
                               atol=0)
    nyquist = 10 / (2 * pixel_size_mm(GEOMETRY))  # lp/cm
    assert float(result.radial_frequency[-1]) == pytest.approx(nyquist)
    assert float(result.mean_frequency[0]) == pytest.approx(nyquist / 2, rel=0.05)


def test_filtered_noise_has_the_filters_squared_response():
    white = white_noise(64, seed=2)
    coloured = white + 0.5 * torch.roll(white, 1, dims=-2)  # h = delta + 0.5 delta(x - dx): along x only
    result = noise_power_spectrum(hu_to_normalized(coloured, clip=False), GEOMETRY, size=32, centres=CENTRES)
    dx = pixel_size_mm(GEOMETRY)
    u = result.frequency
    # |H(u)|^2 = 1.25 + cos(2 pi u dx), its correlation at lag 1 seen by an ROI of 32 pixels as (1 - 1/32) of it
    # (the periodogram's expectation: the autocorrelation under a triangular window)
    response = 1.25 + (1 - 1 / 32) * torch.cos(2 * math.pi * u * dx)
    expected = SIGMA**2 * dx**2 * response[:, None].expand(32, 32)
    torch.testing.assert_close(result.nps[0].mean(dim=1), expected.mean(dim=1), rtol=0.05, atol=0)
    torch.testing.assert_close(result.nps[0].mean(dim=0), expected.mean(dim=0), rtol=0.05, atol=0)
    step = float(result.radial_frequency[1])
    _, radial = radial_average(expected, step)
    torch.testing.assert_close(result.radial[0, 1:], radial[1:], rtol=0.08, atol=0)
    # a low-pass: the peak is at the lowest frequencies (bins 0 and 1 differ by 0.6 %, within the noise)
    assert float(radial.argmax()) == 0 and float(result.peak_frequency[0]) <= step


def test_channels_are_separate_sets():
    hu = torch.cat([white_noise(8, seed=3), 2 * white_noise(8, seed=4)], dim=1)
    result = noise_power_spectrum(hu_to_normalized(hu, clip=False), GEOMETRY, size=16)
    assert result.noise.shape == (2,)
    assert float(result.noise[1] / result.noise[0]) == pytest.approx(2, rel=0.15)


def test_too_few_realisations_or_an_roi_outside_the_field_are_refused():
    images = hu_to_normalized(white_noise(4, seed=5), clip=False)
    with pytest.raises(ValueError, match="R >= 2 realisations, got \\(1, 1, 64, 64\\)"):
        noise_power_spectrum(images[:1], GEOMETRY)
    with pytest.raises(ValueError, match="ROI of 32 pixels at \\(120, 0\\) mm: expected inside the image field"):
        noise_power_spectrum(images, GEOMETRY, centres=((120.0, 0.0),))
