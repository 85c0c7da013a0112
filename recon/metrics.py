"""Image-quality metrics, batched in torch: PSNR, SSIM and RMSE.

Every metric takes a reconstruction ``x`` and a ground truth ``gt`` of the same
shape ``(B, C, H, W)`` (or ``(H, W)``, treated as one image) and returns one
value per image, shape ``(B, C)``, in float64.

``data_range=None`` follows LoDoPaB-CT's convention: the range
``max(gt) - min(gt)`` of each ground-truth image. Papers also report
``data_range=1`` for images normalised to [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["psnr", "rmse", "ssim"]


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
