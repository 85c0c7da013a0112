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

from recon.deprecation import renamed_names
from recon.models.base import LearnedReconstructor
from recon.models.dncnn import DnCNN
from recon.models.fbpconvnet import FBPConvNet
from recon.models.postprocessing import PostProcessing
from recon.models.redcnn import REDCNN
from recon.models.registry import MODELS, build_model, list_models, register_model
from recon.models.unrolled import LearnedGradientDescent, LearnedPrimalDual

__all__ = [
    "MODELS",
    "register_model",
    "build_model",
    "list_models",
    "LearnedReconstructor",
    "PostProcessing",
    "FBPConvNet",
    "REDCNN",
    "DnCNN",
    "LearnedGradientDescent",
    "LearnedPrimalDual",
]


#: ``Reconstructor``, the old name of :class:`LearnedReconstructor`, works for one release (with a warning).
__getattr__ = renamed_names("recon.models", {"Reconstructor": ("LearnedReconstructor", LearnedReconstructor)})
