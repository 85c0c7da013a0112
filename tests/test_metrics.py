"""recon.metrics against scikit-image, numpy and scipy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import metrics as skimage_metrics

from recon.metrics import psnr, rmse, roi_hu_stats, soft_tissue_roi, ssim
from recon.physics import MU_MAX, hu_to_normalized, normalized_to_hu


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


def test_roi_hu_stats_match_numpy_on_the_converted_images():
    generator = torch.Generator().manual_seed(1)
    x = 0.25 + 0.02 * torch.randn(3, 1, 13, 9, generator=generator)
    per_image = torch.rand(3, 1, 13, 9, generator=generator) > 0.6
    shared = per_image[0, 0]
    for mask, mu_max in ((per_image, MU_MAX), (shared, 0.8 * MU_MAX)):
        mean, std = roi_hu_stats(x, mask, mu_max=mu_max)
        assert mean.shape == std.shape == (3, 1) and mean.dtype == torch.float64
        hu = normalized_to_hu(x.double().numpy() * mu_max / MU_MAX)
        for b in range(3):
            region = hu[b, 0][mask.expand(x.shape)[b, 0].numpy()]
            assert float(mean[b, 0]) == pytest.approx(np.mean(region), rel=1e-12)
            assert float(std[b, 0]) == pytest.approx(np.std(region), rel=1e-9)


def test_roi_hu_stats_refuse_mismatched_empty_and_non_boolean_masks():
    x = torch.zeros(2, 1, 13, 9)
    with pytest.raises(ValueError, match=r"mask: expected shape \(13, 9\).*\(2, 1, 13, 9\).*got \(9, 13\)"):
        roi_hu_stats(x, torch.ones(9, 13, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"got \(3, 1, 13, 9\)"):
        roi_hu_stats(x, torch.ones(3, 1, 13, 9, dtype=torch.bool))
    empty = torch.ones(2, 1, 13, 9, dtype=torch.bool)
    empty[1] = False
    with pytest.raises(ValueError, match=r"at least one pixel in every image, got none in images \[1\]"):
        roi_hu_stats(x, empty)
    with pytest.raises(TypeError, match="boolean.*torch.float32"):
        roi_hu_stats(x, torch.ones(13, 9))


def test_soft_tissue_roi_is_the_eroded_hu_window():
    hu = np.full((2, 1, 23, 17), -1000.0)
    rows, cols = np.ogrid[:23, :17]
    hu[0, 0][(rows - 11) ** 2 + (cols - 8) ** 2 <= 49] = 40.0  # a soft-tissue disc
    hu[0, 0, 11, 8] = 900.0  # with a bone speck
    hu[1, 0, :, 5:] = 60.0  # soft tissue up to the image border
    gt = hu_to_normalized(torch.from_numpy(hu))
    mask = soft_tissue_roi(gt)
    assert mask.dtype == torch.bool and mask.shape == gt.shape
    structure = np.ones((5, 5), dtype=bool)  # erosion by 2 pixels, outside the image not soft tissue
    for b in range(2):
        expected = ndimage.binary_erosion((hu[b, 0] >= -100) & (hu[b, 0] <= 100), structure, border_value=0)
        np.testing.assert_array_equal(mask[b, 0].numpy(), expected)
    assert mask[0].any() and not mask[0, 0, 11, 8]
    assert not soft_tissue_roi(gt, hu_range=(100.0, 200.0)).any()
