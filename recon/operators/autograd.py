"""The single autograd bridge between torch and the projector backends."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from recon.operators.ray_transform import RayTransform


class _Project(torch.autograd.Function):
    """``A x`` (``adjoint=False``) or ``A^T y`` (``adjoint=True``) with autograd.

    The operator is linear, so the backward of one direction is the other
    direction applied to the incoming gradient. The backward goes through this
    Function again, which makes the bridge differentiable any number of times.
    """

    @staticmethod
    def forward(ctx, data: Tensor, operator: RayTransform, adjoint: bool) -> Tensor:
        ctx.operator = operator
        ctx.adjoint = adjoint
        return operator._apply_backend(data, adjoint=adjoint)

    @staticmethod
    def backward(ctx, grad: Tensor):
        if not ctx.needs_input_grad[0]:
            return None, None, None
        return project(grad, ctx.operator, adjoint=not ctx.adjoint), None, None


def project(data: Tensor, operator: RayTransform, *, adjoint: bool) -> Tensor:
    """Apply ``operator`` (or its adjoint) to a validated batch, with autograd."""
    return _Project.apply(data, operator, adjoint)
