"""The single autograd bridge between torch and the projector backends, and the operators that use it."""

from __future__ import annotations

import torch
from torch import Tensor

from recon.operators.base import LinearOperator

__all__ = ["BackendOperator", "project"]


class BackendOperator(LinearOperator):
    """A :class:`LinearOperator` computed outside autograd, by ASTRA, a sparse matrix or ODL.

    Subclasses implement :meth:`apply_backend` and may refine
    :meth:`check_input`; :meth:`forward` and :meth:`adjoint` check a batch
    and pass it through :func:`project`, the one autograd bridge, whose
    backward is the other direction (exact for a linear operator, and
    differentiable again).
    """

    def forward(self, x: Tensor) -> Tensor:
        """``A x``: ``(B, C, *domain_shape)`` -> ``(B, C, *range_shape)``, with autograd."""
        return project(self.check_input(x, adjoint=False), self, adjoint=False)

    def adjoint(self, y: Tensor) -> Tensor:
        """``A^T y``: ``(B, C, *range_shape)`` -> ``(B, C, *domain_shape)``, with autograd."""
        return project(self.check_input(y, adjoint=True), self, adjoint=True)

    def check_input(self, data: Tensor, *, adjoint: bool) -> Tensor:
        """``data`` if it is a batch ``(B, C, *shape)`` of the direction's input shape, else an error.

        Raises
        ------
        TypeError
            Not a tensor.
        ValueError
            Another shape; the message gives the expected one.
        """
        shape = self.range_shape if adjoint else self.domain_shape
        if not isinstance(data, Tensor):
            raise TypeError(f"expected a torch.Tensor, got {type(data).__name__}")
        if data.dim() != len(shape) + 2 or tuple(data.shape[2:]) != tuple(shape):
            raise ValueError(f"expected shape (B, C, {', '.join(map(str, shape))}), got {tuple(data.shape)}")
        return data

    def apply_backend(self, data: Tensor, *, adjoint: bool) -> Tensor:  # pragma: no cover - abstract
        """``A x`` (or ``A^T y`` if ``adjoint``) of a checked batch, without autograd."""
        raise NotImplementedError


class _Project(torch.autograd.Function):
    """``A x`` (``adjoint=False``) or ``A^T y`` (``adjoint=True``) with autograd and ``torch.func``.

    The operator is linear, so the backward of one direction is the other
    direction applied to the incoming gradient, and its forward-mode
    derivative (``jvp``) is the same direction applied to the tangent. Both
    go through this Function again, which makes the bridge differentiable any
    number of times. Under ``torch.func.vmap`` the mapped dimension is folded
    into the batch (``B``), so one backend call serves every mapped input.
    """

    @staticmethod
    def forward(data: Tensor, operator: BackendOperator, adjoint: bool) -> Tensor:
        return operator.apply_backend(data, adjoint=adjoint)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        _, ctx.operator, ctx.adjoint = inputs

    @staticmethod
    def backward(ctx, grad: Tensor):
        if not ctx.needs_input_grad[0]:
            return None, None, None
        return project(grad, ctx.operator, adjoint=not ctx.adjoint), None, None

    @staticmethod
    def jvp(ctx, tangent: Tensor, _operator, _adjoint) -> Tensor:
        return project(tangent, ctx.operator, adjoint=ctx.adjoint)

    @staticmethod
    def vmap(info, in_dims, data: Tensor, operator: BackendOperator, adjoint: bool):
        dim = in_dims[0]
        if dim is None:
            return project(data, operator, adjoint=adjoint), None
        stacked = data.movedim(dim, 0)  # (V, B, C, ...)
        out = project(stacked.reshape(-1, *stacked.shape[2:]), operator, adjoint=adjoint)
        return out.reshape(*stacked.shape[:2], *out.shape[1:]), 0


def project(data: Tensor, operator: BackendOperator, *, adjoint: bool) -> Tensor:
    """Apply ``operator`` (or its adjoint) to a checked batch, with autograd."""
    return _Project.apply(data, operator, adjoint)
