"""recon.metrics against scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import metrics as skimage_metrics

from recon.metrics import psnr, rmse, ssim


@pytest.fixture
def pair():
    generator = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 3, 19, 12, generator=generator)
    x = gt + 0.1 * torch.randn(gt.shape, generator=generator)
    return x, gt


@pytest.mark.parametrize("data_range", [None, 1.0])
def test_psnr_and_ssim_match_scikit_image(pair, data_range):
    x, gt = pair
    ours_psnr, ours_ssim = psnr(x, gt, data_range), ssim(x, gt, data_range)
    assert ours_psnr.shape == ours_ssim.shape == (2, 3)
    for b in range(2):
        for c in range(3):
            a, ref = x[b, c].numpy(), gt[b, c].numpy()
            r = float(ref.max() - ref.min()) if data_range is None else data_range
            assert float(ours_psnr[b, c]) == pytest.approx(
                skimage_metrics.peak_signal_noise_ratio(ref, a, data_range=r), abs=1e-4)
            assert float(ours_ssim[b, c]) == pytest.approx(
                skimage_metrics.structural_similarity(ref, a, data_range=r), abs=1e-4)


def test_rmse_and_2d_input(pair):
    x, gt = pair
    expected = np.sqrt(np.mean((x[1, 2].numpy() - gt[1, 2].numpy()) ** 2))
    assert float(rmse(x[1, 2], gt[1, 2])) == pytest.approx(expected, rel=1e-6)
    assert float(ssim(gt[0, 0], gt[0, 0])) == pytest.approx(1.0)


def test_shape_mismatch_names_both_shapes(pair):
    x, gt = pair
    with pytest.raises(ValueError, match=r"\(2, 3, 19, 12\).*\(2, 3, 19, 11\)"):
        psnr(x, gt[..., :11])
    with pytest.raises(ValueError, match="window_size"):
        ssim(x[..., :5], gt[..., :5])
