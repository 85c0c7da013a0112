"""Learned reconstructors, registered by name.

Every model maps sinograms ``(B, 1, A, D)`` to images ``(B, 1, nx, ny)`` on
one geometry through its own :class:`~recon.RayTransform`, and records its
constructor arguments so that a checkpoint rebuilds it.

=============  ==========================================  =====================
name           class                                       kind
=============  ==========================================  =====================
``fbpconvnet`` :class:`FBPConvNet`                         U-Net on the FBP
``redcnn``     :class:`REDCNN`                             encoder-decoder on the FBP
``dncnn``      :class:`DnCNN`                              residual denoiser on the FBP
``lgd``        :class:`LearnedGradientDescent`             unrolled
``lpd``        :class:`LearnedPrimalDual`                  unrolled
=============  ==========================================  =====================
"""

from recon.models.base import Reconstructor
from recon.models.dncnn import DnCNN
from recon.models.fbpconvnet import FBPConvNet
from recon.models.postprocessing import PostProcessing
from recon.models.redcnn import REDCNN
from recon.models.registry import MODELS, build_model, register_model
from recon.models.unrolled import LearnedGradientDescent, LearnedPrimalDual

__all__ = [
    "MODELS",
    "register_model",
    "build_model",
    "Reconstructor",
    "PostProcessing",
    "FBPConvNet",
    "REDCNN",
    "DnCNN",
    "LearnedGradientDescent",
    "LearnedPrimalDual",
]
