"""The TTF of a disc blurred by a Gaussian of known width against the analytic MTF exp(-2 pi^2 sigma^2 f^2)."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import ncx2

from recon import Geometry, RayTransform
from recon.algorithms import fbp
from recon.data.qa import noise_realisations, resolution_module, water_cylinder
from recon.physics import MU_MAX, hu_to_normalized, line_integrals
from recon.quality.roi import Insert, pixel_coordinates
from recon.quality.ttf import crossing, task_transfer_function


def blurred_disc(geometry: Geometry, insert: Insert, sigma: float) -> torch.Tensor:
    """The disc convolved with a Gaussian of ``sigma`` mm, sampled at the pixel centres (exactly: the chance that
    a 2D Gaussian around a point at distance r falls inside the disc is a non-central chi-square CDF)."""
    x, y = pixel_coordinates(geometry)
    squared = ((x - insert.x) ** 2 + (y - insert.y) ** 2).numpy()
    hu = insert.hu * ncx2.cdf(insert.radius**2 / sigma**2, 2, squared / sigma**2)
    return hu_to_normalized(torch.from_numpy(hu)[None, None], clip=False)


@pytest.mark.parametrize("size, sigma", [(128, 2.0), (256, 1.0), (256, 2.0)])
def test_a_gaussian_blur_gives_its_analytic_mtf(size, sigma):
    """sigma of about a pixel or more (2.03 mm pixels at 128, 1.02 mm at 256), the 15 mm disc of the resolution
    module: f50 and f10 within 5 % (measured: 1 to 3 % low), the curve within 0.03."""
    geometry = Geometry.parallel(image_size=size, num_angles=10, num_detectors=91)
    insert = resolution_module().inserts[0]
    result = task_transfer_function(blurred_disc(geometry, insert, sigma), geometry, insert)
    f = result.frequency / 10  # cycles per mm
    analytic = torch.exp(-2 * math.pi**2 * sigma**2 * f**2)
    assert float(result.frequency[-1]) == pytest.approx(10 / (2 * geometry.pixel_size[0] * 1000), rel=0.01)
    assert float((result.ttf[0, 0] - analytic).abs().max()) < 0.03
    for level, measured in ((0.5, result.f50), (0.1, result.f10)):
        expected = 10 * math.sqrt(math.log(1 / level) / (2 * math.pi**2)) / sigma
        assert float(measured) == pytest.approx(expected, rel=0.05)
    assert float(result.contrast) == pytest.approx(insert.hu, rel=0.01)


def test_a_batch_and_a_low_contrast_disc():
    geometry = Geometry.lodopab_small()
    high, low = resolution_module().inserts[:2]
    image = torch.cat([blurred_disc(geometry, high, 2.0), blurred_disc(geometry, high, 3.0)])
    result = task_transfer_function(image, geometry, high)
    assert result.ttf.shape[:2] == (2, 1) and float(result.f50[1]) < float(result.f50[0])
    faint = task_transfer_function(blurred_disc(geometry, low, 2.0), geometry, low)
    torch.testing.assert_close(faint.ttf, result.ttf[:1], atol=0.03, rtol=0)  # linear: the TTF ignores contrast


def test_crossing_interpolates_and_is_nan_when_never_crossed():
    frequency = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    curves = torch.tensor([[1.0, 0.8, 0.4, 0.1], [1.0, 0.9, 0.8, 0.7]], dtype=torch.float64)
    result = crossing(curves, frequency, 0.5)
    assert float(result[0]) == pytest.approx(1.75) and math.isnan(float(result[1]))


def test_a_region_outside_the_field_is_refused():
    geometry = Geometry.lodopab_small()
    image = torch.zeros(1, 1, 128, 128)
    with pytest.raises(ValueError, match="TTF region of insert 'edge': expected inside the image field"):
        task_transfer_function(image, geometry, Insert("edge", 120.0, 0.0, 7.5, 340.0))
    with pytest.raises(ValueError, match="expected reach > 1"):
        task_transfer_function(image, geometry, resolution_module().inserts[0], reach=1.0)


SMALL = Geometry.lodopab_small()
A_SMALL = RayTransform(SMALL)


def reconstruct(sinograms: torch.Tensor) -> torch.Tensor:
    """FBP (Hann, 0.641) at the small preset, float64."""
    return fbp(sinograms, A_SMALL, filter="hann", frequency_scaling=0.641).double()


def fbp_ttf(phantom, insert, *, background=None):
    """The TTF of a noise-free FBP at the small preset, simulated on the finer grid."""
    def noise_free(p):
        return reconstruct(line_integrals(p.image(SMALL), A_SMALL) / MU_MAX)

    empty = None if background is None else noise_free(background)
    return task_transfer_function(noise_free(phantom), SMALL, insert, background=empty)


def test_noise_free_fbp_follows_the_hann_window_and_the_sampling_apertures():
    """FBP's transfer function: the Hann window up to 0.641 of the detector's Nyquist frequency, times
    sinc^2(f d) (linear interpolation of the back-projection) and sinc^3(f dx) (the pixels' area and the bilinear
    up-sampling of the simulation), each a separable aperture taken along one axis. Measured on the +340 HU disc:
    f50 0.68 against 0.70 lp/cm, f10 1.14 against 1.18 (3 % low), the curve within 0.03; the Hann window alone
    predicts f50 0.80 (14 % high)."""
    phantom = resolution_module()
    result = fbp_ttf(phantom, phantom.inserts[0])
    d, dx = SMALL.detector_spacing[0] * 1000, SMALL.pixel_size[0] * 1000
    f = result.frequency / 10
    hann = torch.cos((f * 2 * d / 0.641).clamp(max=1) * math.pi / 2) ** 2
    model = hann * torch.sinc(f * d) ** 2 * torch.sinc(f * dx) ** 3
    assert float((result.ttf[0, 0] - model).abs().max()) < 0.03
    for level, measured in ((0.5, result.f50), (0.1, result.f10)):
        assert float(measured) == pytest.approx(float(crossing(model, result.frequency, level)), rel=0.05)
    assert float(result.f50) < 0.9 * float(crossing(hann, result.frequency, 0.5))


def test_subtracting_the_background_recovers_a_low_contrast_tasks_ttf():
    """Noise-free FBP of the water cylinder at 128 has deterministic structure of about 6 HU: it swamps the edge
    of the +40 HU disc (TTF off by 0.27), and its subtraction gives the +340 HU disc's TTF (FBP is linear)."""
    phantom = resolution_module()
    high, low = phantom.inserts[:2]
    reference = fbp_ttf(phantom, high)
    raw = fbp_ttf(phantom, low)
    subtracted = fbp_ttf(phantom, low, background=water_cylinder())
    assert float((raw.ttf - reference.ttf).abs().max()) > 0.2
    assert float((subtracted.ttf - reference.ttf).abs().max()) < 0.05
    assert float(subtracted.contrast) == pytest.approx(40, abs=2)


def test_the_mean_of_noisy_realisations_gives_the_noise_free_ttf():
    """FBP is linear and the post-log data nearly unbiased at 4096 photons: the TTF of the mean of 64 noisy
    reconstructions is the noise-free one (measured: within 0.007; 0.03 with 16)."""
    phantom = resolution_module()
    insert = phantom.inserts[0]
    clean = fbp_ttf(phantom, insert)
    mean = reconstruct(noise_realisations(phantom.image(SMALL), A_SMALL, 4096, 64, seed=0)).mean(dim=0, keepdim=True)
    noisy = task_transfer_function(mean, SMALL, insert)
    assert float((noisy.ttf - clean.ttf).abs().max()) < 0.02
    assert float(noisy.f50) == pytest.approx(float(clean.f50), rel=0.03)
