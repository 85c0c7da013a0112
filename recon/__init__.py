"""recon: low-dose CT reconstruction and denoising with exact, fast operators."""

from importlib.metadata import PackageNotFoundError, version

from recon import data, metrics
from recon.algorithms import cgls, fbp, landweber, sirt, tv
from recon.geometry import Geometry
from recon.operators import LinearOperator, RayTransform, dot_test
from recon.physics import MU_MAX, hu_to_normalized, normalized_to_hu, simulate
from recon.training.checkpoint import load_model, save_model

try:
    __version__ = version("recon")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "Geometry",
    "RayTransform",
    "LinearOperator",
    "dot_test",
    "simulate",
    "hu_to_normalized",
    "normalized_to_hu",
    "MU_MAX",
    "fbp",
    "sirt",
    "cgls",
    "landweber",
    "tv",
    "metrics",
    "data",
    "save_model",
    "load_model",
    "__version__",
]
