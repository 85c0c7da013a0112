"""SIRT: the simultaneous iterative reconstruction technique."""

from __future__ import annotations

import torch
from torch import Tensor

from recon.algorithms.common import (
    Callback,
    check_parameter,
    check_sinogram,
    initial_image,
    iterate,
    shared_docstring,
)
from recon.operators import LinearOperator

__all__ = ["sirt", "weighted_landweber"]


def _inverse_sums(sums: Tensor) -> Tensor:
    """``1 / sums`` where the sum is positive, 0 elsewhere (rays or pixels never hit)."""
    return torch.where(sums > 1e-8 * sums.max(), 1 / sums, torch.zeros_like(sums))


@shared_docstring
def sirt(
    y: Tensor,
    A: LinearOperator,
    *,
    iterations: int = 100,
    relaxation: float = 1.0,
    nonnegativity: bool = False,
    x0: Tensor | None = None,
    callback: Callback | None = None,
    tol: float = 0.0,
) -> Tensor:
    """SIRT reconstruction of a batch of sinograms.

    Iterates ``x <- x + relaxation * C A^T R (y - A x)`` with ``R`` and ``C``
    the inverse row and column sums of the system matrix (``1 / A 1`` and
    ``1 / A^T 1``), as ASTRA's ``SIRT`` algorithm does.

    Parameters
    ----------
    y : Tensor, shape (B, C, A, D), float32
        Sinograms (line integrals, image units x metres).
    A : LinearOperator
        Usually a :class:`~recon.RayTransform`; needs non-negative entries.
    iterations : int
        Number of iterations (>= 0).
    relaxation : float
        Step multiplier in (0, 2).
    nonnegativity : bool
        Clip the iterate at 0 after every step (ASTRA's ``MinConstraint=0``).
    {start_parameter}
    {loop_parameters}

    Notes
    -----
    Gregor & Benson, "Computational analysis and improvement of SIRT",
    IEEE TMI 27(7), 2008.

    Examples
    --------
    >>> import torch, recon
    >>> A = recon.RayTransform(recon.Geometry.parallel(image_size=32, num_angles=20, num_detectors=45))
    >>> x = sirt(A(torch.ones(1, 1, 32, 32)), A, iterations=5)
    """
    check_sinogram(y, A, iterations)
    with torch.no_grad():
        ones = torch.ones((1, 1, *A.domain_shape), dtype=torch.float32, device=y.device)
        row = _inverse_sums(A(ones))
        column = _inverse_sums(A.adjoint(torch.ones_like(row)))
    return weighted_landweber(y, A, row, column, iterations=iterations, relaxation=relaxation,
                              nonnegativity=nonnegativity, x0=x0, callback=callback, tol=tol)


def weighted_landweber(
    y: Tensor,
    A: LinearOperator,
    row: Tensor | float,
    column: Tensor | float,
    *,
    iterations: int,
    relaxation: float,
    nonnegativity: bool,
    x0: Tensor | None,
    callback: Callback | None,
    tol: float,
) -> Tensor:
    """``x <- x + relaxation * column * A^T (row * (y - A x))``, optionally clipped at 0.

    The common iteration of SIRT (``row``, ``column`` the inverse row and
    column sums) and Landweber (``row = 1``, ``column = 1 / ||A||^2``).
    """
    check_parameter("relaxation", relaxation)
    x = initial_image(y, A, x0)
    step_size = relaxation * column

    def step(x: Tensor) -> Tensor:
        x = x + step_size * A.adjoint(row * (y - A(x)))
        return x.clamp_min(0) if nonnegativity else x

    with torch.no_grad():
        return iterate(step, x, iterations=iterations, callback=callback, tol=tol)
