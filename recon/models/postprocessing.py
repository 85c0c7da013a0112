"""Post-processing reconstructors: an image-to-image network applied to the FBP."""

from __future__ import annotations

from torch import Tensor

from recon.models.base import LearnedReconstructor

__all__ = ["PostProcessing"]


class PostProcessing(LearnedReconstructor):
    """``model(y) = denoise(fbp(y))``; subclasses define :meth:`denoise`.

    The FBP uses the model's ``fbp_filter`` and ``frequency_scaling`` (see
    :class:`~recon.models.base.LearnedReconstructor`); it has no trainable parameters.
    """

    def denoise(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Images ``(B, 1, nx, ny)`` -> improved images of the same shape."""
        raise NotImplementedError

    def forward(self, y: Tensor) -> Tensor:
        """Sinograms ``(B, 1, A, D)`` -> images ``(B, 1, nx, ny)``."""
        return self.denoise(self.filtered_backprojection(self.check_sinogram(y)))
