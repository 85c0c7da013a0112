"""Image-quality metrics, batched in torch: PSNR, SSIM, RMSE and HU statistics in a region.

Every metric takes a reconstruction ``x`` and a ground truth ``gt`` of the same
shape ``(B, C, H, W)`` (or ``(H, W)``, treated as one image) and returns one
value per image, shape ``(B, C)``, in float64. :func:`roi_hu_stats` takes one
image batch and a region of interest instead; :func:`soft_tissue_roi` finds a
homogeneous soft-tissue region in a ground truth. (The data consistency of a
reconstruction with its sinogram is :func:`recon.benchmark.data_consistency`.)

``data_range=None`` follows LoDoPaB-CT's convention: the range
``max(gt) - min(gt)`` of each ground-truth image. Papers also report
``data_range=1`` for images normalised to [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from recon.physics import MU_MAX, normalized_to_hu

__all__ = ["broadcast_roi", "psnr", "rmse", "roi_hu_stats", "soft_tissue_roi", "ssim"]


def _as_batch(x: Tensor, gt: Tensor) -> tuple[Tensor, Tensor]:
    """Both images as float64 ``(B, C, H, W)``; raises on mismatched shapes."""
    for name, value in (("x", x), ("gt", gt)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    if x.shape != gt.shape:
        raise ValueError(
            f"x and gt: expected the same shape, got {tuple(x.shape)} and {tuple(gt.shape)}"
        )
    if x.dim() == 2:
        x, gt = x[None, None], gt[None, None]
    if x.dim() != 4:
        raise ValueError(f"x: expected shape (B, C, H, W) or (H, W), got {tuple(x.shape)}")
    return x.double(), gt.to(x.device).double()


def _data_range(gt: Tensor, data_range: float | Tensor | None) -> Tensor:
    """Per-image range ``(B, C)``: ``max(gt) - min(gt)`` or the given value."""
    if data_range is None:
        flat = gt.flatten(2)
        return flat.amax(dim=2) - flat.amin(dim=2)
    return torch.as_tensor(data_range, dtype=torch.float64, device=gt.device).expand(gt.shape[:2])


def rmse(x: Tensor, gt: Tensor) -> Tensor:
    """Root-mean-square error per image.

    Parameters
    ----------
    x, gt : Tensor, shape (B, C, H, W) or (H, W)
        Reconstruction and ground truth, same units.

    Returns
    -------
    Tensor, shape (B, C), float64
        In the units of the images.
    """
    x, gt = _as_batch(x, gt)
    return torch.sqrt(torch.mean((x - gt) ** 2, dim=(2, 3)))


def psnr(x: Tensor, gt: Tensor, data_range: float | Tensor | None = None) -> Tensor:
    """Peak signal-to-noise ratio ``10 log10(R^2 / MSE)`` per image, in dB.

    Parameters
    ----------
    x, gt : Tensor, shape (B, C, H, W) or (H, W)
        Reconstruction and ground truth.
    data_range : float or Tensor, optional
        ``R``. Default: ``max(gt) - min(gt)`` of each image (LoDoPaB-CT).

    Returns
    -------
    Tensor, shape (B, C), float64
        ``inf`` where ``x == gt``.

    Examples
    --------
    >>> gt = torch.zeros(1, 1, 8, 8); gt[..., 2:6, 2:6] = 1
    >>> round(float(psnr(gt + 0.1, gt)), 3)
    20.0
    """
    x, gt = _as_batch(x, gt)
    mse = torch.mean((x - gt) ** 2, dim=(2, 3))
    return 10 * torch.log10(_data_range(gt, data_range) ** 2 / mse)


def ssim(
    x: Tensor,
    gt: Tensor,
    data_range: float | Tensor | None = None,
    *,
    window_size: int = 7,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    """Structural similarity per image, as scikit-image computes it by default.

    Matches ``skimage.metrics.structural_similarity(gt, x, data_range=R)``
    (uniform ``7 x 7`` window, sample covariance, ``K1 = 0.01``,
    ``K2 = 0.03``, mean over the pixels at least ``window_size // 2`` from the
    border).

    Parameters
    ----------
    x, gt : Tensor, shape (B, C, H, W) or (H, W)
        Reconstruction and ground truth; ``H, W >= window_size``.
    data_range : float or Tensor, optional
        ``R``. Default: ``max(gt) - min(gt)`` of each image (LoDoPaB-CT).
    window_size : int
        Odd side length of the uniform window.
    k1, k2 : float
        Stabilising constants ``C1 = (k1 R)^2``, ``C2 = (k2 R)^2``.

    Returns
    -------
    Tensor, shape (B, C), float64
        In [-1, 1]; 1 for identical images.

    Notes
    -----
    Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error
    visibility to structural similarity", IEEE TIP 13(4), 2004.
    """
    x, gt = _as_batch(x, gt)
    if window_size % 2 != 1 or min(x.shape[2:]) < window_size:
        raise ValueError(
            f"window_size: expected an odd size <= the image sides {tuple(x.shape[2:])}, "
            f"got {window_size}"
        )
    batch, channels = x.shape[:2]
    # A window that stays inside the image gives exactly the cropped region.
    stack = torch.cat([x, gt, x * x, gt * gt, x * gt], dim=1).flatten(0, 1)[:, None]
    means = F.avg_pool2d(stack, window_size, stride=1).reshape(batch, 5, channels, -1)
    ux, uy, uxx, uyy, uxy = means.unbind(1)
    cov_norm = window_size**2 / (window_size**2 - 1)
    vx, vy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    r = _data_range(gt, data_range)[..., None]
    c1, c2 = (k1 * r) ** 2, (k2 * r) ** 2
    s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s.mean(dim=2)


def _hu(x: Tensor, mu_max: float) -> Tensor:
    """Images on the normalised scale ``mu / mu_max`` in HU, float64 (:func:`recon.physics.normalized_to_hu`)."""
    return normalized_to_hu(x.double(), mu_max=mu_max)


def broadcast_roi(mask: Tensor, shape: torch.Size) -> Tensor:
    """A region of interest broadcast to an image batch.

    Parameters
    ----------
    mask : Tensor of bool, shape (nx, ny), (1 or B, 1 or C, nx, ny)
    shape : torch.Size
        The batch's shape ``(B, C, nx, ny)``.

    Returns
    -------
    Tensor of bool, shape ``shape`` (an expanded view)

    Raises
    ------
    TypeError, ValueError
        For a non-boolean mask or one of another image shape.
    """
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"mask: expected a boolean torch.Tensor, got {getattr(mask, 'dtype', type(mask).__name__)}")
    full = mask[None, None] if mask.dim() == 2 else mask
    batch, channels, *image = shape
    matches = (full.dim() == 4 and full.shape[0] in (1, batch) and full.shape[1] in (1, channels)
               and list(full.shape[2:]) == image)
    if not matches:
        raise ValueError(f"mask: expected shape {tuple(image)}, {(batch, 1, *image)} or {tuple(shape)} "
                         f"for images of shape {tuple(shape)}, got {tuple(mask.shape)}")
    return full.expand(shape)


def roi_hu_stats(x: Tensor, mask: Tensor, *, mu_max: float = MU_MAX) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation in Hounsfield units inside a region of interest, per image.

    Parameters
    ----------
    x : Tensor, shape (B, C, H, W) or (H, W)
        Images on LoDoPaB's normalised attenuation scale, ``mu / mu_max``.
    mask : Tensor of bool, shape (H, W), (B, 1, H, W) or (B, C, H, W)
        The region: one for every image, or one per image (per channel).
        Must select at least one pixel of every image.
    mu_max : float
        Attenuation of normalised value 1, 1/m (the data's physics; default LoDoPaB's).

    Returns
    -------
    mean, std : Tensor, shape (B, C), float64
        In HU (air -1000, water 0), converted with
        :func:`recon.physics.normalized_to_hu`; ``std`` is the population
        standard deviation of the pixels in the region (numpy's default,
        ``ddof=0``): the noise level in a homogeneous region.

    Raises
    ------
    TypeError
        ``x`` or ``mask`` not a tensor, or ``mask`` not boolean.
    ValueError
        Shapes that do not match, or a region without pixels in some image.

    Examples
    --------
    >>> water = torch.full((1, 1, 4, 4), 20.0 / MU_MAX)
    >>> mean, std = roi_hu_stats(water, torch.ones(4, 4, dtype=torch.bool))
    >>> round(float(mean), 3), float(std)
    (0.0, 0.0)
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    x = x[None, None] if x.dim() == 2 else x
    if x.dim() != 4:
        raise ValueError(f"x: expected shape (B, C, H, W) or (H, W), got {tuple(x.shape)}")
    weights = broadcast_roi(mask, x.shape).to(x.device, torch.float64)
    counts = weights.sum(dim=(2, 3))
    if (counts == 0).any():
        empty = sorted({int(b) for b in torch.nonzero(counts == 0)[:, 0]})
        raise ValueError(f"mask: expected at least one pixel in every image, got none in images {empty}")
    hu = _hu(x, mu_max)
    mean = (hu * weights).sum(dim=(2, 3)) / counts
    variance = ((hu - mean[..., None, None]) ** 2 * weights).sum(dim=(2, 3)) / counts
    return mean, variance.sqrt()


def soft_tissue_roi(gt: Tensor, *, hu_range: tuple[float, float] = (-100.0, 100.0), erosion: int = 2,
                    mu_max: float = MU_MAX) -> Tensor:
    """A homogeneous soft-tissue region of each ground truth: pixels in ``hu_range``, eroded.

    Parameters
    ----------
    gt : Tensor, shape (B, C, H, W)
        Ground truths, normalised attenuation ``mu / mu_max``.
    hu_range : (float, float)
        Lowest and highest CT number of the tissue, HU (default -100 to
        100: fat and bone excluded, soft tissue and water kept).
    erosion : int
        Pixels removed from the edge of the region: a pixel is kept only if
        the ``(2 erosion + 1)^2`` square around it lies in the range and
        inside the image (edges are blurred and partial-volume pixels are not soft tissue).
    mu_max : float
        Attenuation of normalised value 1, 1/m.

    Returns
    -------
    Tensor of bool, shape (B, C, H, W)
        May select no pixel of an image without enough soft tissue.
    """
    if not isinstance(gt, Tensor) or gt.dim() != 4:
        raise ValueError(f"gt: expected a tensor of shape (B, C, H, W), got {getattr(gt, 'shape', type(gt))}")
    if erosion < 0 or hu_range[0] > hu_range[1]:
        raise ValueError(f"expected erosion >= 0 and an increasing hu_range, got {erosion} and {hu_range}")
    hu = _hu(gt, mu_max)
    inside = ((hu >= hu_range[0]) & (hu <= hu_range[1])).double().flatten(0, 1)[:, None]
    if erosion:
        outside = 1 - F.pad(inside, (erosion,) * 4)  # beyond the image counts as outside the region
        inside = 1 - F.max_pool2d(outside, 2 * erosion + 1, stride=1)
    return inside.reshape(gt.shape) > 0.5
