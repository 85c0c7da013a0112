"""Print the versions of recon and its libraries and the backends usable here."""

from __future__ import annotations

import argparse
import platform

from recon.version import __version__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``recon info`` takes no arguments."""


#: Distributions whose versions ``recon info`` prints (deepinv is optional).
LIBRARIES = ("torch", "astra-toolbox", "odl", "numpy", "h5py", "pydicom", "pydicom-data", "safetensors",
             "matplotlib", "deepinv")


def library_versions() -> dict[str, str]:
    """Installed version of each distribution of :data:`LIBRARIES` (``"not installed"`` where missing).

    Returns
    -------
    dict of str to str
        Distribution name -> version, read from the installed distributions'
        metadata (nothing is imported).
    """
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for distribution in LIBRARIES:
        try:
            versions[distribution] = version(distribution)
        except PackageNotFoundError:
            versions[distribution] = "not installed"
    return versions


def run(args: argparse.Namespace) -> int:
    import astra
    import torch

    print(f"recon          {__version__}")
    print(f"python         {platform.python_version()}")
    for label, installed in library_versions().items():
        print(f"{label:<15}{installed}")
    cuda = torch.cuda.is_available() and astra.use_cuda()
    print("CPU backends   threads (ASTRA's CPU projector, a thread pool), sparse (its exact matrix)")
    print(f"CUDA backend   {'available' if cuda else 'unavailable (no GPU or no CUDA-enabled ASTRA)'}")
    return 0
