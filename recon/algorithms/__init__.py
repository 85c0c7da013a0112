"""Classical reconstruction: FBP, SIRT, CGLS, Landweber and TV (PDHG), batched in torch.

Every method has the form ``method(y, A, **params) -> x`` with sinograms
``y`` of shape ``(B, C, num_angles, num_detectors)`` and images
``(B, C, nx, ny)``, and runs on the device of ``y`` through the operator
``A``. :class:`BoundMethod` binds a method to an operator and its parameters for the
benchmark harness; :func:`select_parameter` tunes one parameter on a
validation set.
"""

import warnings

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


def __getattr__(name: str):
    """``Reconstructor``: the old name of :class:`BoundMethod`, kept for one release (warns)."""
    if name == "Reconstructor":
        warnings.warn("recon.algorithms.Reconstructor is now recon.algorithms.BoundMethod; the old name goes "
                      "in the next release", DeprecationWarning, stacklevel=2)
        return BoundMethod
    raise AttributeError(f"module 'recon.algorithms' has no attribute {name!r}")
