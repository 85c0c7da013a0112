"""recon: low-dose CT reconstruction and denoising with exact, fast operators.

Every public name is imported on first access (PEP 562), so that
``import recon.geometry`` loads the geometry and NumPy, not torch, the models
or the trainer; ``recon.fbp``, ``from recon import tv`` and the rest work as
usual.
"""

import importlib

from recon.version import __version__

#: Public name -> the module that defines it.
_PUBLIC = {
    "Geometry": "recon.geometry",
    "Reconstructor": "recon.interfaces",
    "RayTransform": "recon.operators",
    "LinearOperator": "recon.operators",
    "dot_test": "recon.operators",
    "simulate": "recon.physics",
    "hu_to_normalized": "recon.physics",
    "normalized_to_hu": "recon.physics",
    "MU_MAX": "recon.physics",
    "fbp": "recon.algorithms",
    "sirt": "recon.algorithms",
    "cgls": "recon.algorithms",
    "landweber": "recon.algorithms",
    "tv": "recon.algorithms",
    "save_model": "recon.training.checkpoint",
    "load_model": "recon.training.checkpoint",
    "reconstruct": "recon.reconstruction",
    "reconstruct_to_file": "recon.reconstruction",
}

#: Subpackages loaded on first attribute access (``recon.data``, ``recon.benchmark.benchmark``,
#: ``recon.plotting.show_image``): some pull in matplotlib, ODL and the benchmark harness,
#: which most scripts never use.
_SUBMODULES = ("data", "metrics", "benchmark", "plotting", "cli", "commands", "files")

__all__ = [*_PUBLIC, "metrics", "data", "__version__"]


def __getattr__(name: str):
    """Import a public name of :data:`_PUBLIC` or a subpackage of :data:`_SUBMODULES` on first access."""
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"recon.{name}")
    else:
        raise AttributeError(f"module 'recon' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC, *_SUBMODULES})
