"""RED-CNN: residual encoder-decoder CNN on the FBP (Chen et al. 2017)."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from recon.geometry import Geometry
from recon.models.postprocessing import PostProcessing
from recon.models.registry import register_model

__all__ = ["REDCNN"]


@register_model("redcnn")
class REDCNN(PostProcessing):
    """Five convolutions, five transposed convolutions, three residual shortcuts.

    Shortcuts (added before the ReLU) run from the input to the output, from
    the 2nd convolution to the 3rd transposed one and from the 4th
    convolution to the 1st transposed one, as in the paper.

    Parameters
    ----------
    geometry : Geometry or dict
    channels : int
        Feature maps of every layer (paper: 96).
    kernel_size : int
        Odd kernel side (paper: 5).
    **options
        ``fbp_filter``, ``frequency_scaling``, ``cpu_backend``, ``cuda_backend`` of
        :class:`~recon.models.base.LearnedReconstructor`.

    Notes
    -----
    The paper trains on patches with unpadded ("valid") convolutions; here
    every layer is zero-padded to keep the image size, so whole images of any
    size go through. The final ReLU keeps attenuation non-negative.

    References
    ----------
    H. Chen et al., "Low-dose CT with a residual encoder-decoder convolutional
    neural network", IEEE TMI 36(12), 2017.
    """

    def __init__(self, geometry: Geometry | dict[str, Any], *, channels: int = 96, kernel_size: int = 5,
                 **options: Any) -> None:
        super().__init__(geometry, **options)
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size: expected an odd size, got {kernel_size}")
        padding = kernel_size // 2
        widths = [1, *[channels] * 5]
        self.encoder = nn.ModuleList(
            nn.Conv2d(a, b, kernel_size, padding=padding) for a, b in zip(widths[:-1], widths[1:])
        )
        self.decoder = nn.ModuleList(
            nn.ConvTranspose2d(b, a, kernel_size, padding=padding)
            for a, b in reversed(list(zip(widths[:-1], widths[1:])))
        )

    def denoise(self, x: Tensor) -> Tensor:
        """Images ``(B, 1, nx, ny)`` -> images of the same shape."""
        shortcuts = [x]
        out = x
        for index, conv in enumerate(self.encoder):
            out = F.relu(conv(out))
            if index in (1, 3):
                shortcuts.append(out)
        for index, deconv in enumerate(self.decoder):
            out = deconv(out)
            if index in (0, 2, 4):
                out = out + shortcuts.pop()
            out = F.relu(out)
        return out
