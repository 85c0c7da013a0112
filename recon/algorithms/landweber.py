"""Landweber iteration: gradient descent on the least-squares data term."""

from __future__ import annotations

from torch import Tensor

from recon.algorithms.common import Callback, check_sinogram, shared_docstring
from recon.algorithms.sirt import weighted_landweber
from recon.operators import LinearOperator

__all__ = ["landweber"]


@shared_docstring
def landweber(
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
    """(Projected) Landweber reconstruction of a batch of sinograms.

    Iterates ``x <- x + relaxation / ||A||^2 * A^T (y - A x)``, gradient
    descent on ``1/2 ||A x - y||^2``; with ``nonnegativity`` each step is
    followed by clipping at 0 (projected gradient).

    Parameters
    ----------
    y : Tensor, shape (B, C, A, D), float32
        Sinograms.
    A : LinearOperator
        Forward operator; its norm is computed once by power iteration
        (``A.norm()``, cached).
    iterations : int
        Number of iterations (>= 0).
    relaxation : float
        Step size in units of ``1 / ||A||^2``, in (0, 2).
    nonnegativity : bool
        Clip the iterate at 0 after every step.
    {start_parameter}
    {loop_parameters}

    Notes
    -----
    Landweber, "An iteration formula for Fredholm integral equations of the
    first kind", Amer. J. Math. 73(3), 1951.
    """
    check_sinogram(y, A, iterations)
    return weighted_landweber(y, A, 1.0, 1 / A.norm() ** 2, iterations=iterations,
                              relaxation=relaxation, nonnegativity=nonnegativity, x0=x0,
                              callback=callback, tol=tol)
