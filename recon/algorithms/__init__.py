"""Classical reconstruction: FBP, SIRT, CGLS, Landweber and TV (PDHG), batched in torch.

Every method has the form ``method(y, A, **params) -> x`` with sinograms
``y`` of shape ``(B, C, num_angles, num_detectors)`` and images
``(B, C, nx, ny)``, and runs on the device of ``y`` through the operator
``A``. :class:`BoundMethod` binds a method to an operator and its parameters for the
benchmark harness; :func:`select_parameter` tunes one parameter on a
validation set.
"""

from recon.algorithms.cgls import cgls
from recon.algorithms.common import Callback
from recon.algorithms.fbp import FilterName, fbp
from recon.algorithms.landweber import landweber
from recon.algorithms.reconstructor import (
    METHODS,
    BoundMethod,
    ParameterSearch,
    select_parameter,
)
from recon.algorithms.sirt import sirt
from recon.algorithms.tv import tv
from recon.deprecation import renamed_names

__all__ = [
    "METHODS",
    "Callback",
    "FilterName",
    "ParameterSearch",
    "BoundMethod",
    "cgls",
    "fbp",
    "landweber",
    "select_parameter",
    "sirt",
    "tv",
]


#: ``Reconstructor``, the old name of :class:`BoundMethod`, works for one release (with a warning).
__getattr__ = renamed_names("recon.algorithms", {"Reconstructor": ("BoundMethod", BoundMethod)})
