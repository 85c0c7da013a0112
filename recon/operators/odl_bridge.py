"""Interoperability with ODL 1.0: recon operators in ODL and ODL operators in torch.

ODL's discretised spaces carry a constant weighting (the cell volume), and an
ODL adjoint is the adjoint for those weighted inner products:
``A*_odl = (w_range / w_domain) A^T`` where ``A^T`` is the plain matrix
transpose that recon's ``adjoint`` returns. Both directions of the bridge apply
that factor, so

* ``as_odl_operator(recon.RayTransform(g))`` behaves exactly like ODL's own
  ``RayTransform`` (forward and adjoint), and plugs into ODL's solvers;
* ``OdlOperatorModule(odl_op).adjoint`` is the plain transpose, so autograd
  gradients through it are exact;
* ``geometry_to_odl(g)`` / ``geometry_from_odl(space, odl_geometry)``
  (:mod:`recon.operators.odl_geometry`) convert the geometries.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from recon.operators.autograd import BackendOperator
from recon.operators.base import LinearOperator
from recon.operators.odl_geometry import geometry_from_odl, geometry_to_odl
from recon.operators.ray_transform import RayTransform

__all__ = ["as_odl_operator", "OdlOperatorModule", "odl_spaces", "geometry_to_odl", "geometry_from_odl"]


def _check_real(space, what: str) -> None:
    """Refuse a complex ODL space: recon's operators are real, and dropping the imaginary part would be silent."""
    if not getattr(space, "is_real", True):
        raise ValueError(f"{what}: expected a real ODL space (recon's operators are real), got {space}")


def _as_tensor(array) -> Tensor:
    """An ODL element's array (NumPy, or torch for pytorch-backed spaces) as a float32 CPU tensor."""
    if isinstance(array, Tensor):
        return array.detach().to("cpu", torch.float32)
    return torch.as_tensor(np.ascontiguousarray(array, dtype=np.float32))


def _element(space, data: Tensor):
    """``space.element`` of a CPU tensor: a tensor on the space's device for pytorch-backed spaces, else NumPy."""
    if getattr(space, "impl", "numpy") == "pytorch":
        return space.element(data.to(getattr(space, "device", "cpu")))
    return space.element(data.numpy())


def _weight(space) -> float:
    """The constant weighting of an ODL space (1 for unweighted spaces)."""
    const = getattr(getattr(space, "weighting", None), "const", 1.0)
    if not np.isscalar(const) and np.ndim(const) != 0:
        raise ValueError(f"expected an ODL space with constant weighting, got {space}")
    return float(const)


def odl_spaces(operator: LinearOperator):
    """The ODL domain and range matching ``operator``.

    A :class:`RayTransform` gets the spaces of ODL's own ray transform for the
    same geometry (physical, weighted); any other operator unweighted
    ``odl.rn`` spaces of its shapes.
    """
    import odl

    if isinstance(operator, RayTransform):
        from odl.applications import tomo

        space, geometry = geometry_to_odl(operator.geometry)
        reference = tomo.RayTransform(space, geometry, impl="astra_cpu")
        return space, reference.range
    return odl.rn(operator.domain_shape, dtype="float32"), odl.rn(operator.range_shape, dtype="float32")


def as_odl_operator(operator: LinearOperator, *, domain=None, range=None):
    """Wrap a recon operator as a linear ``odl.Operator``.

    Parameters
    ----------
    operator : LinearOperator
        Applied one element at a time on CPU, as a ``(1, 1, *shape)`` batch.
    domain, range : odl.TensorSpace, optional
        Default :func:`odl_spaces`.

    Returns
    -------
    odl.Operator
        Linear, with an ``adjoint`` that is correct for the spaces' weightings.

    Examples
    --------
    >>> import recon
    >>> A = recon.RayTransform(recon.Geometry.parallel(image_size=32, num_angles=10, num_detectors=47))
    >>> op = as_odl_operator(A)
    >>> op.range.shape
    (10, 47)
    """
    import odl

    default_domain, default_range = (None, None) if domain and range else odl_spaces(operator)
    domain = domain or default_domain
    range = range or default_range
    _check_real(domain, "domain")
    _check_real(range, "range")
    if tuple(domain.shape) != tuple(operator.domain_shape) or tuple(range.shape) != tuple(operator.range_shape):
        raise ValueError(
            f"ODL spaces of shapes {domain.shape} -> {range.shape} do not match the operator's "
            f"{operator.domain_shape} -> {operator.range_shape}"
        )
    adjoint_scale = _weight(range) / _weight(domain)

    def apply(function, element, space):
        with torch.no_grad():
            result = function(_as_tensor(element.asarray())[None, None])[0, 0]
        return _element(space, result)

    class _Adjoint(odl.Operator):
        def __init__(self, forward_operator):
            super().__init__(range, domain, linear=True)
            self._forward = forward_operator

        def _call(self, y):
            out = apply(operator.adjoint, y, domain)
            return out * adjoint_scale if adjoint_scale != 1.0 else out

        @property
        def adjoint(self):
            return self._forward

    class _Forward(odl.Operator):
        def __init__(self):
            super().__init__(domain, range, linear=True)

        def _call(self, x):
            return apply(operator, x, range)

        @property
        def adjoint(self):
            return _Adjoint(self)

    return _Forward()


class OdlOperatorModule(BackendOperator):
    """Any linear ODL operator as a batched, differentiable torch operator.

    ``forward`` maps ``(B, C, *domain.shape)`` to ``(B, C, *range.shape)``
    element by element through ODL (on the CPU); ``adjoint`` is the plain
    transpose, ``(w_domain / w_range) * odl_op.adjoint``, so gradients are exact.

    Parameters
    ----------
    odl_operator : odl.Operator
        A linear operator whose adjoint ODL knows.
    """

    def __init__(self, odl_operator) -> None:
        super().__init__()
        if not getattr(odl_operator, "is_linear", False):
            raise TypeError(f"expected a linear ODL operator, got {odl_operator!r}")
        _check_real(odl_operator.domain, "odl_operator.domain")
        _check_real(odl_operator.range, "odl_operator.range")
        self.odl_operator = odl_operator
        self.domain_shape = tuple(odl_operator.domain.shape)
        self.range_shape = tuple(odl_operator.range.shape)
        self._transpose_scale = _weight(odl_operator.domain) / _weight(odl_operator.range)

    def apply_backend(self, data: Tensor, *, adjoint: bool) -> Tensor:
        """The ODL operator (or its adjoint) on each element of a checked batch, on the CPU."""
        expected = self.range_shape if adjoint else self.domain_shape
        function = self.odl_operator.adjoint if adjoint else self.odl_operator
        space = function.domain
        batch = data.detach().to("cpu", torch.float32).reshape(-1, *expected)
        results = [_as_tensor(function(_element(space, item)).asarray()) for item in batch]
        out = torch.stack(results).to(data.device, data.dtype)
        if adjoint:
            out = out * self._transpose_scale
        out_shape = self.domain_shape if adjoint else self.range_shape
        return out.reshape(*data.shape[:2], *out_shape)
