"""DnCNN: a deep residual denoiser on the FBP (Zhang, Zuo, Chen, Meng & Zhang 2017)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from recon.geometry import Geometry
from recon.models.blocks import conv_bn_relu
from recon.models.postprocessing import PostProcessing
from recon.models.registry import register_model

__all__ = ["DnCNN"]


@register_model("dncnn")
class DnCNN(PostProcessing):
    """``depth`` 3x3 convolutions predicting the noise of the FBP: ``x = fbp(y) - net(fbp(y))``.

    Parameters
    ----------
    geometry : Geometry or dict
    depth : int
        Convolutional layers, at least 2 (paper: 17).
    channels : int
        Feature maps (paper: 64).
    batch_norm : bool
        Batch normalisation in the middle layers.
    **options
        ``fbp_filter``, ``frequency_scaling``, ``cpu_backend``, ``cuda_backend`` of
        :class:`~recon.models.base.LearnedReconstructor`.

    References
    ----------
    K. Zhang, W. Zuo, Y. Chen, D. Meng, L. Zhang, "Beyond a Gaussian denoiser:
    residual learning of deep CNN for image denoising", IEEE TIP 26(7), 2017.
    """

    def __init__(self, geometry: Geometry | dict[str, Any], *, depth: int = 17, channels: int = 64,
                 batch_norm: bool = True, **options: Any) -> None:
        super().__init__(geometry, **options)
        if depth < 2:
            raise ValueError(f"depth: expected at least 2 layers, got {depth}")
        self.noise = nn.Sequential(
            conv_bn_relu(1, channels, batch_norm=False),
            *[conv_bn_relu(channels, channels, batch_norm=batch_norm) for _ in range(depth - 2)],
            nn.Conv2d(channels, 1, 3, padding=1),
        )

    def denoise(self, x: Tensor) -> Tensor:
        """``x - noise(x)`` for images ``(B, 1, nx, ny)``."""
        return x - self.noise(x)
