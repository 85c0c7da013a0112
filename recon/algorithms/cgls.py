"""CGLS: conjugate gradients on the normal equations, batched."""

from __future__ import annotations

import torch
from torch import Tensor

from recon.algorithms.common import (
    Callback,
    check_sinogram,
    initial_image,
    iterate,
    shared_docstring,
)
from recon.operators import LinearOperator

__all__ = ["cgls"]


def _squared_norm(t: Tensor) -> Tensor:
    """Per-image ``||t||^2``, shape (B, C, 1, 1)."""
    return torch.sum(t.double() ** 2, dim=tuple(range(2, t.dim())), keepdim=True)


def _ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    """``numerator / denominator`` as float32, 0 where the denominator is 0 (converged)."""
    safe = torch.where(denominator > 0, denominator, torch.ones_like(denominator))
    return torch.where(denominator > 0, numerator / safe, torch.zeros_like(numerator)).float()


@shared_docstring
def cgls(
    y: Tensor,
    A: LinearOperator,
    *,
    iterations: int = 30,
    nonnegativity: bool = False,
    x0: Tensor | None = None,
    callback: Callback | None = None,
    tol: float = 0.0,
) -> Tensor:
    """CGLS reconstruction of a batch of sinograms.

    Conjugate gradients on ``A^T A x = A^T y`` without forming ``A^T A``
    (Hestenes & Stiefel 1952; Bjorck, *Numerical Methods for Least Squares
    Problems*, 1996), one independent recursion per image of the batch. The
    residual ``||y - A x_k||`` decreases monotonically; the iteration count
    is the regulariser (semi-convergence on noisy data).

    Parameters
    ----------
    y : Tensor, shape (B, C, A, D), float32
        Sinograms.
    A : LinearOperator
        Forward operator.
    iterations : int
        Number of iterations (>= 0).
    nonnegativity : bool
        Clip the *returned* image at 0. CGLS has no constrained form, so the
        iterates themselves (and the callback's ``x``) stay unconstrained.
    {start_parameter}
    {loop_parameters}
    """
    check_sinogram(y, A, iterations)
    x = initial_image(y, A, x0)
    with torch.no_grad():
        residual = y - A(x)
        direction = A.adjoint(residual)
        gamma = _squared_norm(direction)

        def step(x: Tensor) -> Tensor:
            nonlocal residual, direction, gamma
            projected = A(direction)
            alpha = _ratio(gamma, _squared_norm(projected))
            x = x + alpha * direction
            residual = residual - alpha * projected
            gradient = A.adjoint(residual)
            new_gamma = _squared_norm(gradient)
            direction = gradient + _ratio(new_gamma, gamma) * direction
            gamma = new_gamma
            return x

        x = iterate(step, x, iterations=iterations, callback=callback, tol=tol)
    return x.clamp_min(0) if nonnegativity else x
