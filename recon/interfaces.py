"""The one vocabulary of reconstruction methods: :class:`Reconstructor`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from torch import Tensor

    from recon.geometry import Geometry

__all__ = ["Reconstructor"]


@runtime_checkable
class Reconstructor(Protocol):
    """What every reconstruction method of recon is, and what a method of your own needs to be.

    A callable ``x = r(y)`` from post-log sinograms ``y`` of shape
    ``(B, 1, num_angles, num_detectors)`` (LoDoPaB-CT's scale) to images of
    shape ``(B, 1, nx, ny)`` (normalised attenuation), with the
    :class:`~recon.Geometry` it reconstructs and a ``name`` for tables.
    Classical methods bound to their parameters
    (:class:`recon.algorithms.BoundMethod`) and learned models
    (:class:`recon.models.LearnedReconstructor`) both are one;
    ``isinstance(obj, Reconstructor)`` checks the attributes.

    Examples
    --------
    >>> import recon
    >>> from recon.algorithms import BoundMethod
    >>> A = recon.RayTransform(recon.Geometry.parallel(image_size=16, num_angles=10, num_detectors=23))
    >>> isinstance(BoundMethod("fbp", A), Reconstructor)
    True
    """

    name: str

    @property
    def geometry(self) -> Geometry:
        """The acquisition geometry of the sinograms it takes."""

    def __call__(self, y: Tensor) -> Tensor:
        """Reconstruct ``y`` (B, 1, A, D) into images (B, 1, nx, ny)."""
