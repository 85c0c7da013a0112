"""LoDoPaB-CT's simulation recipe: statistics against the model, references, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recon import Geometry, RayTransform
from recon.data.phantoms import random_ellipses
from recon.operators.odl_geometry import geometry_to_odl
from recon.physics import (
    MU_AIR,
    MU_MAX,
    MU_WATER,
    counts_to_post_log,
    estimate_photons,
    fine_geometry,
    hu_to_normalized,
    line_integrals,
    normalized_to_hu,
    post_log_variance,
    simulate,
    upsample,
)

GEOMETRY = Geometry.parallel(image_size=(13, 9), num_angles=7, num_detectors=11)


@pytest.fixture(scope="module")
def A() -> RayTransform:
    return RayTransform(GEOMETRY)


def image(batch: int = 1) -> torch.Tensor:
    x = torch.from_numpy(random_ellipses((13, 9), seed=3))
    return x.expand(batch, 1, 13, 9).contiguous()


def test_constants_follow_lodopab():
    assert MU_MAX == pytest.approx(81.35858, abs=1e-5)
    assert MU_MAX == pytest.approx(3071 * (MU_WATER - MU_AIR) / 1000 + MU_WATER)
    # the largest post-log value of LoDoPaB's observations (REFERENCE: 0.1305)
    assert float(counts_to_post_log(torch.zeros(1), photons=4096)) == pytest.approx(0.1305, abs=5e-5)


def test_hu_conversion_fixed_points_and_round_trip():
    hu = np.array([-1000.0, 0.0, 3071.0, 5000.0, -1500.0])
    x = hu_to_normalized(hu)
    np.testing.assert_allclose(x, [MU_AIR / MU_MAX, MU_WATER / MU_MAX, 1.0, 1.0, 0.0], rtol=1e-12)
    values = np.linspace(-1024, 3071, 9)
    np.testing.assert_allclose(normalized_to_hu(hu_to_normalized(values, clip=False)), values, atol=1e-9)
    unclipped = hu_to_normalized(torch.tensor([5000.0]), clip=False)
    assert isinstance(unclipped, torch.Tensor) and float(unclipped) > 1


def test_mean_and_variance_of_counts_follow_the_poisson_model(A):
    n = 3000
    photons = 500.0
    counts = simulate(image(n), A, photons, seed=1, factor=1, output="counts")[:, 0]
    expected = photons * torch.exp(-MU_MAX * A(image(1)))[0, 0]
    mean, variance = counts.mean(0), counts.var(0)
    z = (mean - expected) / torch.sqrt(expected / n)
    assert z.abs().max() < 5, z
    # var(s^2) of a Poisson sample ~ (2 lambda^2 + lambda) / n
    z_var = (variance - expected) / torch.sqrt((2 * expected**2 + expected) / n)
    assert z_var.abs().max() < 5, z_var
    assert torch.equal(counts, counts.round())


def test_zero_counts_become_point_one_before_the_log(A):
    photons = 3.0
    x = torch.full((400, 1, 13, 9), 0.6)  # strongly attenuating: many empty bins
    counts = simulate(x, A, photons, seed=2, factor=1, output="counts")
    post_log = simulate(x, A, photons, seed=2, factor=1)
    zero = counts == 0
    expected_zero_fraction = torch.exp(-photons * torch.exp(-MU_MAX * A(x[:1]))).expand_as(counts).mean()
    assert zero.float().mean() == pytest.approx(float(expected_zero_fraction), rel=0.05)
    np.testing.assert_allclose(post_log[zero], math.log(photons / 0.1) / MU_MAX, rtol=1e-6)
    np.testing.assert_allclose(post_log[~zero], -torch.log(counts[~zero] / photons) / MU_MAX, rtol=1e-5)
    assert torch.equal(post_log, counts_to_post_log(counts, photons=photons))


def test_electronic_noise_adds_its_variance_and_stays_finite(A):
    n, sigma = 3000, 4.0
    counts = simulate(image(n), A, 50.0, seed=4, factor=1, output="counts", electronic_noise=sigma)[:, 0]
    expected = 50.0 * torch.exp(-MU_MAX * A(image(1)))[0, 0]
    excess = counts.var(0) - expected
    assert (excess.mean() - sigma**2).abs() < 0.15 * sigma**2
    assert (counts < 0).any()  # the Gaussian reaches below zero on dark bins
    assert torch.isfinite(counts_to_post_log(counts, photons=50.0)).all()


def test_same_seed_same_bytes_and_batch_independent_seeds(A):
    x = image(3)
    assert torch.equal(simulate(x, A, seed=7, factor=2), simulate(x, A, seed=7, factor=2))
    assert not torch.equal(simulate(x, A, seed=7, factor=2), simulate(x, A, seed=8, factor=2))
    generator = torch.Generator().manual_seed(7)
    assert torch.equal(simulate(x, A, seed=generator, factor=2), simulate(x, A, seed=7, factor=2))
    batched = simulate(x, A, seed=[10, 11, 12], factor=2)
    alone = torch.cat([simulate(x[:1], A, seed=[s], factor=2) for s in (10, 11, 12)])
    assert torch.equal(batched, alone)
    torch.manual_seed(5)
    first = simulate(x, A, factor=2)
    torch.manual_seed(5)
    assert torch.equal(first, simulate(x, A, factor=2))


def test_fine_grid_projection_matches_odl_on_a_resized_image():
    """The recipe's noise-free part against ODL + scikit-image, as LoDoPaB's script composes them."""
    from odl.applications.tomo import RayTransform as OdlRayTransform
    from skimage.transform import resize

    geometry = Geometry.parallel(image_size=(15, 11), num_angles=9, num_detectors=21)
    x = random_ellipses((15, 11), seed=0)
    ours = line_integrals(torch.from_numpy(x)[None, None], RayTransform(geometry), factor=3)[0, 0]
    fine = fine_geometry(geometry, 3)
    space, odl_geometry = geometry_to_odl(fine)
    up = resize(x * MU_MAX, fine.image_shape, order=1, mode="edge", anti_aliasing=False)
    reference = OdlRayTransform(space, odl_geometry)(space.element(up)).asarray()
    np.testing.assert_allclose(ours.numpy(), reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())


def test_upsampling_is_scikit_image_bilinear():
    from skimage.transform import resize

    x = np.random.default_rng(0).random((7, 5)).astype(np.float32)
    ours = upsample(torch.from_numpy(x)[None, None], (19, 13))[0, 0].numpy()
    np.testing.assert_allclose(ours, resize(x, (19, 13), order=1, mode="edge", anti_aliasing=False), atol=1e-6)


def test_fine_geometry_keeps_angles_detector_and_domain():
    fine = fine_geometry(Geometry.lodopab(), 1000 / 362)
    assert fine.image_shape == (1000, 1000)
    assert fine.with_angles(fine.angles) == fine
    assert (fine.angles, fine.detector_min, fine.image_max) == (
        Geometry.lodopab().angles, Geometry.lodopab().detector_min, Geometry.lodopab().image_max)
    # non-square grids get the nearest refinement with square pixels
    assert fine_geometry(GEOMETRY, 1000 / 362).image_shape == (39, 27)
    assert fine_geometry(Geometry.parallel(image_size=(128, 96)), 1000 / 362).image_shape == (352, 264)
    with pytest.raises(ValueError, match=">= 1"):
        fine_geometry(GEOMETRY, 0.5)


def test_sparse_view_draws_the_rows_of_the_full_scan():
    full = Geometry.parallel(image_size=17, num_angles=12, num_detectors=25)
    x = torch.from_numpy(random_ellipses(17, seed=1))[None, None]
    dense = line_integrals(x, RayTransform(full), factor=2)
    sparse = line_integrals(x, RayTransform(full.angle_subset(3)), factor=2)
    torch.testing.assert_close(sparse, dense[:, :, ::3], rtol=1e-5, atol=1e-5)
    assert simulate(x, RayTransform(full.angle_subset(3)), seed=0).shape == (1, 1, 4, 25)


def test_batches_with_channels_keep_their_shape(A):
    x = torch.rand(2, 3, 13, 9) * 0.3
    y = simulate(x, A, seed=0)
    assert y.shape == (2, 3, 7, 11) and y.dtype == torch.float32
    assert simulate(x, A, seed=[1, 2]).shape == (2, 3, 7, 11)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"photons": 0}, "photons"),
        ({"output": "pre-log"}, "output"),
        ({"electronic_noise": -1}, "electronic_noise"),
        ({"seed": [1, 2, 3]}, "one seed per sample"),
    ],
)
def test_bad_options_are_refused(A, kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate(image(2), A, **{"seed": 0, **kwargs})


def test_wrong_image_shape_names_both_shapes(A):
    with pytest.raises(ValueError, match=r"\(B, C, 13, 9\)"):
        simulate(torch.zeros(1, 1, 9, 13), A, seed=0)


def test_a_dose_per_sample_equals_simulating_each_sample_at_its_dose():
    A = RayTransform(Geometry.parallel(image_size=16, num_angles=9, num_detectors=23))
    x = torch.rand((3, 1, 16, 16), generator=torch.Generator().manual_seed(0)) * 0.3
    doses = [100.0, 1000.0, 10000.0]
    together = simulate(x, A, doses, seed=[1, 2, 3])
    for b, dose in enumerate(doses):
        assert torch.equal(together[b], simulate(x[b:b + 1], A, dose, seed=[b + 1])[0])
    with pytest.raises(ValueError, match=r"one count per sample \(3\)"):
        simulate(x, A, [100.0, 1000.0], seed=0)
    with pytest.raises(ValueError, match=r"photons of sample 1: expected a finite number > 0"):
        simulate(x, A, [100.0, float("nan"), 1.0], seed=0)


def test_dose_ranges_draw_log_uniform_seeded_doses_per_sample():
    from recon.data.simulated import Simulation

    simulation = Simulation(photons=1024, photons_max=16384, seed=5)
    doses = np.array(simulation.sample_photons(range(2000)))
    assert doses.min() >= 1024 and doses.max() <= 16384
    # log-uniform: a quarter of the log range below 2048, and the median near the geometric mean 4096
    assert abs(np.mean(doses < 2048) - 0.25) < 0.04 and abs(np.log2(np.median(doses)) - 12) < 0.15
    assert simulation.sample_photons([7, 3]) == [doses[7], doses[3]]
    assert Simulation(photons=4096).sample_photons(range(2)) == [4096.0, 4096.0]
    with pytest.raises(ValueError, match="photons_max"):
        Simulation(photons=4096, photons_max=1000)


@pytest.mark.parametrize("photons", [1024.0, 4096.0, 16384.0])
def test_photons_are_estimated_from_the_sinogram_within_eight_percent(photons):
    """N0 from the noise of LoDoPaB-style data (fine-grid projection, Poisson counts) alone.

    Measured at 64x64/180/91: 0.94 to 1.00 of the true N0 at 1024 photons.
    """
    geometry = Geometry.parallel(image_size=64, num_angles=180, num_detectors=91)
    x = torch.from_numpy(np.stack([random_ellipses(64, seed=s) for s in range(3)]))[:, None]
    y = simulate(x, RayTransform(geometry), photons=photons, seed=[0, 1, 2])
    estimated = estimate_photons(y)
    assert estimated.shape == (3,)
    assert torch.all((estimated / photons - 1).abs() < 0.08), estimated / photons


def test_post_log_variance_is_the_variance_of_simulated_bins(A):
    y = simulate(image(2000), A, photons=1000.0, seed=list(range(2000)), factor=1.0)
    measured = y.double().var(dim=0)
    model = post_log_variance(y.double().mean(dim=0, keepdim=True), 1000.0)[0]
    assert torch.allclose(measured.mean(), model.mean(), rtol=0.05)


def test_photon_estimation_needs_sinograms_with_four_angles():
    with pytest.raises(ValueError, match=r"angles >= 4.*\(1, 1, 3, 11\)"):
        estimate_photons(torch.zeros(1, 1, 3, 11))
