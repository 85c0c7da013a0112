"""Training losses: the mean squared error, or the mean PSNR that the benchmark reports."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["Loss", "training_loss"]

Loss = Literal["mse", "psnr"]


def training_loss(output: Tensor, target: Tensor, kind: Loss) -> Tensor:
    """The loss a training step minimises.

    Parameters
    ----------
    output, target : Tensor
        Reconstructions and ground truths, ``(B, 1, H, W)``, attenuation in
        1/m (or the data's units); ``output`` is cast to float32.
    kind : {"mse", "psnr"}
        ``"mse"``: the mean squared error over the whole batch, so that images
        with large errors (bone, field-edge crops) dominate the gradient.
        ``"psnr"``: ``10 log10`` of each image's mean squared error, averaged
        over the batch -- minus the mean PSNR, up to a per-image constant
        (the data range), so that every image counts as much as it does in the
        benchmark's mean PSNR. In dB.

    Returns
    -------
    Tensor
        Scalar.
    """
    error = (output.float() - target) ** 2
    if kind == "mse":
        return error.mean()
    if kind == "psnr":
        per_image = error.flatten(1).mean(dim=1)
        return 10 * torch.log10(per_image.clamp_min(torch.finfo(per_image.dtype).tiny)).mean()
    raise ValueError(f"loss: expected 'mse' or 'psnr', got {kind!r}")
