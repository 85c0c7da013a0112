"""Per-image scores; the data-consistency noise model against simulated Poisson data."""

from __future__ import annotations

import math

import pytest
import torch

import recon
from recon.benchmark.scoring import METRICS, data_consistency, hu_scores, score
from recon.data.phantoms import shepp_logan
from recon.metrics import psnr, roi_hu_stats, soft_tissue_roi, ssim
from recon.physics import MU_MAX, hu_to_normalized, simulate
from tests.benchmark.conftest import GEOMETRY


def test_data_consistency_of_the_truth_is_one_on_poisson_data():
    # Without fine-grid model error the residual of the ground truth is pure noise.
    geometry = recon.Geometry.parallel(image_size=32, num_angles=40, num_detectors=47)
    A = recon.RayTransform(geometry)
    x = torch.from_numpy(shepp_logan(32))[None, None].repeat(2, 1, 1, 1)
    for photons in (4096, 256):
        y = simulate(x, A, photons, seed=[1, 2], factor=1)
        dc = data_consistency(x, y, A, photons=photons, mu_max=MU_MAX)
        assert dc.shape == (2,)
        torch.testing.assert_close(dc, torch.ones(2, dtype=torch.float64), atol=0.08, rtol=0)
        # a smoothed image explains the data worse than the noise level
        blurred = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)
        assert (data_consistency(blurred, y, A, photons=photons, mu_max=MU_MAX) > 1.5).all()


def test_unknown_dose_gives_nan():
    A = recon.RayTransform(GEOMETRY)
    x = torch.zeros(3, 1, 17, 11)
    assert torch.isnan(data_consistency(x, A(x), A, photons=None, mu_max=MU_MAX)).all()


def test_score_uses_lodopab_data_range_per_image(tiny_levels):
    A = recon.RayTransform(GEOMETRY)
    y, gt = (torch.stack(parts) for parts in zip(*(tiny_levels[0].samples[i] for i in range(3))))
    x = gt + 0.05 * torch.randn(gt.shape, generator=torch.Generator().manual_seed(0))
    scores = score(x, gt, y, A, photons=4096, mu_max=MU_MAX)
    assert tuple(scores) == METRICS == ("psnr", "ssim", "data_consistency", "hu_error", "hu_noise")
    torch.testing.assert_close(scores["psnr"], psnr(x, gt)[:, 0])
    torch.testing.assert_close(scores["ssim"], ssim(x, gt)[:, 0])
    ranges = gt.flatten(1).amax(1) - gt.flatten(1).amin(1)
    mse = ((x - gt).double() ** 2).flatten(1).mean(1)
    torch.testing.assert_close(scores["psnr"], 10 * torch.log10(ranges.double() ** 2 / mse))
    assert all(math.isfinite(v) for v in scores["data_consistency"].tolist())


def test_hu_scores_in_the_soft_tissue_of_the_truth_and_in_a_given_region():
    gt = torch.full((3, 1, 17, 11), float(hu_to_normalized(torch.tensor(-1000.0))))
    gt[:2, :, 3:14, 2:9] = hu_to_normalized(torch.tensor(30.0))
    gt[1, :, 8, 5] = hu_to_normalized(torch.tensor(80.0))  # texture inside the tissue; image 2 is all air
    x = gt + 0.01 * torch.randn(gt.shape, generator=torch.Generator().manual_seed(0))
    scores = hu_scores(x, gt, mu_max=MU_MAX)
    roi = soft_tissue_roi(gt)
    mean, std = roi_hu_stats(x[:2], roi[:2])
    truth, _ = roi_hu_stats(gt[:2], roi[:2])
    torch.testing.assert_close(scores["hu_error"][:2], (mean - truth).abs()[:, 0])
    torch.testing.assert_close(scores["hu_noise"][:2], std[:, 0])
    assert scores["hu_noise"][0] > 5 and math.isnan(scores["hu_error"][2]) and math.isnan(scores["hu_noise"][2])
    assert hu_scores(gt, gt, mu_max=MU_MAX)["hu_error"][:2].tolist() == [0, 0]

    region = torch.zeros(17, 11, dtype=torch.bool)
    region[:4] = True  # air and tissue edge, the same for every image
    given = hu_scores(x, gt, roi=region, mu_max=MU_MAX)
    mean, std = roi_hu_stats(x, region)
    torch.testing.assert_close(given["hu_noise"], std[:, 0])
    assert not given["hu_error"].isnan().any()
    with pytest.raises(ValueError, match=r"mask: expected shape \(17, 11\).* got \(11, 17\)"):
        hu_scores(x, gt, roi=region.T, mu_max=MU_MAX)
