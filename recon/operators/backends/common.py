"""What every projector backend shares: its interface, its error, and importing ASTRA."""

from __future__ import annotations

from typing import Protocol

from torch import Tensor

__all__ = ["Backend", "BackendUnavailableError", "import_astra"]


class BackendUnavailableError(RuntimeError):
    """A backend cannot run here; the message says what to install or change."""


class Backend(Protocol):
    """What ``RayTransform`` needs from a backend."""

    def forward(self, volume: Tensor, out: Tensor) -> None:
        """Write ``A volume`` into ``out``: ``(N, *image) -> (N, *sinogram)``."""

    def adjoint(self, sinogram: Tensor, out: Tensor) -> None:
        """Write ``A^T sinogram`` into ``out``: ``(N, *sinogram) -> (N, *image)``."""

    def close(self) -> None:
        """Free native resources; the backend is unusable afterwards."""


def import_astra():
    """Import ASTRA or raise :class:`BackendUnavailableError` saying how to get it."""
    try:
        import astra
    except ImportError as err:  # pragma: no cover - astra is a dependency
        raise BackendUnavailableError(
            "the ASTRA backends need astra-toolbox: pip install astra-toolbox==2.5.0"
        ) from err
    return astra
