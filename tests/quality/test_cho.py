"""The CHO against the closed-form d' of a known signal in white Gaussian noise."""

from __future__ import annotations

import math

import pytest
import torch

from recon import Geometry
from recon.physics import hu_to_normalized
from recon.quality.cho import cho_detectability, laguerre_gauss_channels
from recon.quality.roi import Insert, disc_mask, pixel_coordinates

GEOMETRY = Geometry.parallel(image_size=24, half_extent=0.012, num_angles=10, num_detectors=35)  # 1 mm pixels
SIGMA = 10.0  # HU
WIDTH = 6.0  # mm


def realisations(signal: torch.Tensor, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` signal-present and ``count`` signal-absent images of white noise, HU converted to the scale."""
    generator = torch.Generator().manual_seed(seed)
    noise = SIGMA * torch.randn(2 * count, 1, 24, 24, generator=generator, dtype=torch.float64)
    return hu_to_normalized(noise[:count] + signal, clip=False), hu_to_normalized(noise[count:], clip=False)


def test_the_channels_are_orthonormal():
    x, y = pixel_coordinates(Geometry.parallel(image_size=256, half_extent=0.032))  # 0.25 mm pixels
    channels = laguerre_gauss_channels(x, y, WIDTH, 6).flatten(1)
    gram = channels @ channels.T * 0.25**2
    torch.testing.assert_close(gram, torch.eye(6, dtype=torch.float64), atol=1e-6, rtol=0)


def test_a_signal_in_the_channels_span_reaches_the_ideal_observer():
    """A Gaussian signal of the channels' width is channel 0: the CHO is the ideal observer, d' = |s| / sigma."""
    x, y = pixel_coordinates(GEOMETRY)
    signal = 6.0 * torch.exp(-math.pi * (x**2 + y**2) / WIDTH**2)
    ideal = float(signal.norm()) / SIGMA
    present, absent = realisations(signal, 4000, seed=0)
    result = cho_detectability(present, absent, GEOMETRY, (0.0, 0.0), width=WIDTH, size=24, bootstrap=200)
    assert ideal == pytest.approx(2.55, abs=0.01)
    assert float(result.d_prime[0]) == pytest.approx(ideal, rel=0.05)
    low, high = result.d_prime_interval[0].tolist()
    assert low < ideal < high and high - low < 0.3
    assert float(result.auc[0]) == pytest.approx(float(torch.special.ndtr(result.d_prime / math.sqrt(2))))
    assert result.train == (2000, 2000) and result.test == (2000, 2000)


def test_a_disc_reaches_the_channelised_closed_form():
    """A 5 mm disc of 6 HU: d'^2 = dv^T (sigma^2 U^T U)^-1 dv with dv = U^T s, below the ideal |s| / sigma."""
    mask = disc_mask(GEOMETRY, Insert("rod", 0.0, 0.0, 2.5, 6.0)).double()
    signal = 6.0 * mask
    x, y = pixel_coordinates(GEOMETRY)
    channels = laguerre_gauss_channels(x, y, WIDTH, 10).flatten(1)
    dv = channels @ signal.flatten()
    closed = math.sqrt(float(dv @ torch.linalg.solve(SIGMA**2 * channels @ channels.T, dv)))
    assert closed < float(signal.norm()) / SIGMA
    present, absent = realisations(signal, 4000, seed=1)
    result = cho_detectability(present, absent, GEOMETRY, (0.0, 0.0), width=WIDTH, size=24, bootstrap=200)
    assert float(result.d_prime[0]) == pytest.approx(closed, rel=0.05)


def test_the_interval_is_seeded_and_channels_are_separate_sets():
    x, y = pixel_coordinates(GEOMETRY)
    signal = 4.0 * torch.exp(-math.pi * (x**2 + y**2) / WIDTH**2)
    pairs = realisations(signal, 60, seed=2), realisations(torch.zeros_like(signal), 60, seed=3)
    stacked = [torch.cat(images, dim=1) for images in zip(*pairs)]  # channel 1: no signal
    first = cho_detectability(*stacked, GEOMETRY, (0.0, 0.0), width=WIDTH, size=16, channels=5, seed=3)
    again = cho_detectability(*stacked, GEOMETRY, (0.0, 0.0), width=WIDTH, size=16, channels=5, seed=3)
    torch.testing.assert_close(first.d_prime_interval, again.d_prime_interval, rtol=0, atol=0)
    assert first.d_prime.shape == (2,) and float(first.d_prime[0]) > 1 and abs(float(first.d_prime[1])) < 1


def test_too_few_realisations_or_an_roi_outside_the_field_are_refused():
    present, absent = realisations(torch.zeros(24, 24, dtype=torch.float64), 40, seed=4)
    with pytest.raises(ValueError, match="present: expected at least 40 realisations .* for 10 channels .*"
                                         "got \\(39, 1, 24, 24\\)"):
        cho_detectability(present[:39], absent, GEOMETRY, (0.0, 0.0), width=WIDTH)
    with pytest.raises(ValueError, match="ROI of 16 pixels at \\(8, 0\\) mm: expected inside the image field"):
        cho_detectability(present, absent, GEOMETRY, (8.0, 0.0), width=WIDTH, size=16)


def test_no_signal_gives_no_detectability_despite_a_trained_template():
    """With 40 realisations a class and 10 channels, a template trained and scored on all of them finds a d' of
    sqrt(2 J / N) = 0.7 in pure noise (0.73 in 200 trials of Gaussian channel outputs); scored on the held-out
    half it finds none."""
    nothing = torch.zeros(24, 24, dtype=torch.float64)
    found = [float(cho_detectability(*realisations(nothing, 40, seed=10 + k), GEOMETRY, (0.0, 0.0), width=WIDTH,
                                     size=16, bootstrap=10).d_prime[0]) for k in range(12)]
    assert abs(sum(found) / len(found)) < 0.3


def test_several_rois_per_realisation_reach_the_closed_form_and_split_by_realisation():
    """Copies of a Gaussian signal at 2 places and background at 4: d' = |s| / sigma from 8x fewer images."""
    geometry = Geometry.parallel(image_size=48, half_extent=0.024)  # 1 mm pixels
    x, y = pixel_coordinates(geometry)
    places = [(-12.0, -12.0), (12.0, 12.0)]
    signal = sum(6.0 * torch.exp(-math.pi * ((x - cx) ** 2 + (y - cy) ** 2) / WIDTH**2) for cx, cy in places)
    ideal = 6.0 * float(torch.exp(-math.pi * (x**2 + y**2) / WIDTH**2).norm()) / SIGMA
    generator = torch.Generator().manual_seed(5)
    noise = SIGMA * torch.randn(1000, 1, 48, 48, generator=generator, dtype=torch.float64)
    present, absent = (hu_to_normalized(part, clip=False) for part in (noise[:500] + signal, noise[500:]))
    background = [(-12.0, 12.0), (12.0, -12.0), (-12.0, -12.0), (12.0, 12.0)]
    result = cho_detectability(present, absent, geometry, places, width=WIDTH, size=16, absent_centres=background,
                               bootstrap=200)
    assert float(result.d_prime[0]) == pytest.approx(ideal, rel=0.05)
    assert result.train == (250 * 2, 250 * 4) and result.test == (250 * 2, 250 * 4)
    one = cho_detectability(present, absent, geometry, places[0], width=WIDTH, size=16, bootstrap=200)
    assert one.train == (250, 250)
    low, high = result.d_prime_interval[0].tolist()
    one_low, one_high = one.d_prime_interval[0].tolist()
    assert high - low < one_high - one_low  # more ROIs, a tighter interval


def test_enough_rois_may_come_from_fewer_realisations_and_bad_centres_are_refused():
    present, absent = realisations(torch.zeros(24, 24, dtype=torch.float64), 20, seed=6)
    places = [(-4.0, 0.0), (4.0, 0.0)]
    result = cho_detectability(present, absent, GEOMETRY, places, width=WIDTH, size=8, bootstrap=10)  # 40 ROIs
    assert result.train == (20, 20)
    with pytest.raises(ValueError, match="present: expected at least 40 realisations .* times ROIs \\(1 each\\)"):
        cho_detectability(present, absent, GEOMETRY, places[0], width=WIDTH, size=8)
    with pytest.raises(ValueError, match="centres: expected a centre \\(x, y\\) in mm or a sequence of them, got 'x'"):
        cho_detectability(present, absent, GEOMETRY, "x", width=WIDTH, size=8)
