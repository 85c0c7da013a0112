"""FBPConvNet: a residual U-Net on the FBP (Jin, McCann, Froustey & Unser 2017)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recon.geometry import Geometry
from recon.models.blocks import conv_bn_relu
from recon.models.postprocessing import PostProcessing
from recon.models.registry import register_model

__all__ = ["FBPConvNet", "UNet"]


class UNet(nn.Module):
    """U-Net: ``scales`` resolutions, two 3x3 convolutions each, skip connections by concatenation.

    Parameters
    ----------
    in_channels, out_channels : int
    scales : int
        Resolutions, including the full one (``scales - 1`` poolings).
    channels : int
        Channels at full resolution; doubled at every coarser scale, up to ``max_channels``.
    max_channels : int
    batch_norm : bool
        Batch normalisation after every convolution.

    Notes
    -----
    Inputs of any size ``(B, in_channels, H, W)`` are zero-padded to a
    multiple of ``2 ** (scales - 1)`` and the output is cropped back.
    """

    def __init__(self, in_channels: int, out_channels: int, *, scales: int, channels: int,
                 max_channels: int, batch_norm: bool) -> None:
        super().__init__()
        if scales < 1 or channels < 1:
            raise ValueError(f"scales and channels: expected positive numbers, got {scales} and {channels}")
        widths = [min(channels * 2**scale, max_channels) for scale in range(scales)]
        inputs = [in_channels, *widths[:-1]]
        self.encoder = nn.ModuleList(
            nn.Sequential(conv_bn_relu(a, b, batch_norm=batch_norm), conv_bn_relu(b, b, batch_norm=batch_norm))
            for a, b in zip(inputs, widths)
        )
        coarse_to_fine = list(reversed(range(scales - 1)))
        self.upsample = nn.ModuleList(
            nn.ConvTranspose2d(widths[s + 1], widths[s], 2, stride=2) for s in coarse_to_fine
        )
        self.decoder = nn.ModuleList(
            nn.Sequential(conv_bn_relu(2 * widths[s], widths[s], batch_norm=batch_norm),
                          conv_bn_relu(widths[s], widths[s], batch_norm=batch_norm))
            for s in coarse_to_fine
        )
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        self.multiple = 2 ** (scales - 1)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        x = F.pad(x, (0, -width % self.multiple, 0, -height % self.multiple))
        skips = []
        for index, block in enumerate(self.encoder):
            x = block(F.max_pool2d(x, 2) if index else x)
            skips.append(x)
        skips.pop()
        for upsample, block in zip(self.upsample, self.decoder):
            x = block(torch.cat([skips.pop(), upsample(x)], dim=1))
        return self.head(x)[..., :height, :width]


@register_model("fbpconvnet")
class FBPConvNet(PostProcessing):
    """FBP followed by a residual U-Net: ``x = fbp(y) + unet(fbp(y))``.

    Parameters
    ----------
    geometry : Geometry or dict
    scales : int
        U-Net resolutions (the paper and DIVal's LoDoPaB model use 5).
    channels : int
        Channels at full resolution, doubled per scale up to ``max_channels``
        (the paper starts at 64).
    max_channels : int
    batch_norm : bool
    **options
        ``fbp_filter``, ``frequency_scaling``, ``cpu_backend``, ``cuda_backend`` of
        :class:`~recon.models.base.LearnedReconstructor`.

    References
    ----------
    K. H. Jin, M. T. McCann, E. Froustey, M. Unser, "Deep convolutional neural
    network for inverse problems in imaging", IEEE TIP 26(9), 2017.

    Examples
    --------
    >>> import torch, recon
    >>> g = recon.Geometry.parallel(image_size=24, num_angles=12, num_detectors=35)
    >>> model = FBPConvNet(g, scales=3, channels=4)
    >>> tuple(model(torch.zeros(2, 1, 12, 35)).shape)
    (2, 1, 24, 24)
    """

    def __init__(self, geometry: Geometry | dict[str, Any], *, scales: int = 5, channels: int = 32,
                 max_channels: int = 512, batch_norm: bool = True, **options: Any) -> None:
        super().__init__(geometry, **options)
        self.unet = UNet(1, 1, scales=scales, channels=channels, max_channels=max_channels,
                         batch_norm=batch_norm)

    def denoise(self, x: Tensor) -> Tensor:
        """``x + unet(x)`` for images ``(B, 1, nx, ny)``."""
        return x + self.unet(x)
