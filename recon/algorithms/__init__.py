"""Classical reconstruction: FBP, SIRT, CGLS, Landweber and TV (PDHG), batched in torch.

Every method has the form ``method(y, A, **params) -> x`` with sinograms
``y`` of shape ``(B, C, num_angles, num_detectors)`` and images
``(B, C, nx, ny)``, and runs on the device of ``y`` through the operator
``A``. :class:`Reconstructor` binds a method to its parameters for the
benchmark harness; :func:`select_parameter` tunes one parameter on a
validation set.
"""

from recon.algorithms.cgls import cgls
from recon.algorithms.common import Callback
from recon.algorithms.fbp import FilterName, fbp
from recon.algorithms.landweber import landweber
from recon.algorithms.reconstructor import (
    METHODS,
    ParameterSearch,
    Reconstructor,
    select_parameter,
)
from recon.algorithms.sirt import sirt
from recon.algorithms.tv import tv

__all__ = [
    "METHODS",
    "Callback",
    "FilterName",
    "ParameterSearch",
    "Reconstructor",
    "cgls",
    "fbp",
    "landweber",
    "select_parameter",
    "sirt",
    "tv",
]
