"""recon: low-dose CT reconstruction and denoising with exact, fast operators."""

from importlib.metadata import PackageNotFoundError, version

from recon.geometry import Geometry
from recon.operators import LinearOperator, RayTransform, dot_test

try:
    __version__ = version("recon")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["Geometry", "RayTransform", "LinearOperator", "dot_test", "__version__"]
