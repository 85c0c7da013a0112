"""recon: low-dose CT reconstruction and denoising with exact, fast operators."""

import importlib
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

#: Subpackages loaded on first attribute access (``recon.benchmark.benchmark``,
#: ``recon.plotting.show_image``) rather than by ``import recon``: they pull in
#: matplotlib, ODL and the benchmark harness, which most scripts never use.
_LAZY_SUBMODULES = ("benchmark", "plotting", "cli", "commands", "files")


def __getattr__(name: str):
    """Import a subpackage of :data:`_LAZY_SUBMODULES` on first access (PEP 562)."""
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"recon.{name}")
    raise AttributeError(f"module 'recon' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_SUBMODULES})
