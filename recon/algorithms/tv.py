"""Total-variation regularised reconstruction by PDHG (Chambolle-Pock)."""

from __future__ import annotations

import math
from typing import Literal

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
from recon.algorithms.fbp import fbp
from recon.operators import LinearOperator, RayTransform

__all__ = ["DEFAULT_WEIGHTS", "LODOPAB_MU_MAX", "DataTerm", "divergence", "gradient", "tv"]

DataTerm = Literal["wls", "ls"]

#: LoDoPaB-CT's attenuation scale mu_max in 1/m: post-log data times this is in 1/1.
LODOPAB_MU_MAX = 81.35858

#: Default TV weights, tuned for LoDoPaB-normalised post-log data at 4096 photons.
DEFAULT_WEIGHTS: dict[str, float] = {"ls": 5.0e-5, "wls": 2.0e-6}


def gradient(x: Tensor) -> Tensor:
    """Forward differences with a zero last row/column: (B, C, H, W) -> (B, C, 2, H, W)."""
    g = torch.zeros((*x.shape[:2], 2, *x.shape[2:]), dtype=x.dtype, device=x.device)
    g[:, :, 0, :-1] = x[:, :, 1:] - x[:, :, :-1]
    g[:, :, 1, :, :-1] = x[:, :, :, 1:] - x[:, :, :, :-1]
    return g


def divergence(g: Tensor) -> Tensor:
    """``-gradient^T``: (B, C, 2, H, W) -> (B, C, H, W)."""
    d = torch.zeros_like(g[:, :, 0])
    d[:, :, :-1] += g[:, :, 0, :-1]
    d[:, :, 1:] -= g[:, :, 0, :-1]
    d[:, :, :, :-1] += g[:, :, 1, :, :-1]
    d[:, :, :, 1:] -= g[:, :, 1, :, :-1]
    return d


@shared_docstring
def tv(
    y: Tensor,
    A: RayTransform,
    *,
    weight: float | None = None,
    iterations: int = 200,
    data_term: DataTerm = "ls",
    mu_max: float = LODOPAB_MU_MAX,
    nonnegativity: bool = True,
    step_ratio: float = 30.0,
    x0: Tensor | None = None,
    callback: Callback | None = None,
    tol: float = 0.0,
) -> Tensor:
    """TV-regularised reconstruction of a batch of 2D sinograms (PDHG).

    Minimises, for each image of the batch,

    .. math:: \\tfrac12 \\sum_i w_i\\,(A x - y)_i^2 + \\lambda \\sum_p |\\nabla x|_p
              + \\iota_{x \\ge 0}(x)

    with isotropic TV (forward differences between neighbouring pixels) by
    the primal-dual hybrid gradient method (Chambolle & Pock, J. Math.
    Imaging Vis. 40, 2011). The data operator
    ``W^1/2 A`` is scaled to norm 1 (per image for ``"wls"``) and the dual
    steps of the data and gradient blocks are set separately, so the step
    sizes need no tuning by the user.

    Parameters
    ----------
    y : Tensor, shape (B, C, A, D), float32
        Post-log sinograms on LoDoPaB-CT's scale (line integrals of the
        normalised attenuation, ``-log(counts / N0) / mu_max``).
    A : RayTransform
        The ray transform of ``y``'s geometry (needs ``A.geometry`` for the
        pixel size); its norm is computed once (``A.norm()``, cached).
    weight : float, optional
        ``lambda``. Default :data:`DEFAULT_WEIGHTS` of the data term, tuned
        by mean PSNR (:func:`~recon.algorithms.select_parameter`, 200
        iterations) at 4096 photons per bin with LoDoPaB's angle and bin
        density: 5e-5 for ``"ls"``, best on random ellipse phantoms at
        128x128/360/183 (37.8 dB; 4e-4 gives 33.8) and at LoDoPaB's
        362x362/1000/513 (39.9 dB; 4e-4 gives 36.5), and best or within
        0.5 dB of best on the ``mixed`` anatomical family at 128x128. Sparse,
        high-contrast toy images want more: 5e-4 on the 48x48 ellipses of
        the test suite. 2e-6 for ``"wls"``, best at 128x128/360/183 on
        random ellipses (36.0 dB; 4e-6 gives 35.6, 1e-6 36.0) and on
        ``mixed`` (35.3 dB; 4e-6 gives 34.9). The weighted term converges
        more slowly: at 200 iterations it is 0.8 to 1.9 dB below ``"ls"``
        on these images, at 1000 iterations 0.3 dB above (random ellipses,
        37.8 against 37.5 dB). See Notes for other doses.
    iterations : int
        PDHG iterations (>= 0); each costs one ``A`` and one ``A^T``.
    data_term : {"ls", "wls"}
        ``"ls"``: ``w_i = 1``. ``"wls"``: ``w_i = exp(-mu_max y_i)``, the
        measured fraction of photons reaching bin ``i``: the quadratic
        approximation of the Poisson log-likelihood of the counts (Sauer &
        Bouman, IEEE TSP 41(2), 1993) up to the factor ``N0 mu_max^2``. On
        simulated ellipse data at 4096 photons ``"wls"`` scored about 2 dB
        PSNR below ``"ls"`` at its best weight (with weights from the data or
        from a reprojected FBP alike): with one TV weight everywhere it
        smooths the strongly attenuated centre more than the rim (Fessler &
        Rogers, IEEE TIP 5(9), 1996). Hence the default ``"ls"``.
    mu_max : float
        Attenuation scale of ``y`` in 1/m (LoDoPaB: 81.35858), used by
        ``"wls"``; for data given as ``-log(counts / N0)`` use 1.
    nonnegativity : bool
        Constrain ``x >= 0``.
    step_ratio : float
        Primal step / dual step of the normalised problem; their product is
        fixed at the convergence bound. 30 suits images in [0, 1].
    x0 : Tensor, shape (B, C, H, W), optional
        Starting image; default ``fbp(y, A)`` (Hann, 0.641), which saves
        many iterations, above all for ``"wls"``. Pass zeros for geometries
        :func:`~recon.algorithms.fbp` does not handle.
    {loop_parameters}

    Notes
    -----
    Choosing the weight for another dose: the noise variance of a post-log
    bin is about ``1 / (N0 mu_max^2 w_i)``, so the weight balancing data and
    prior scales like ``1 / N0``. Measured with ``"ls"`` on 48x48 ellipse
    phantoms (best 5.4e-4 at 4096 photons): 1.35e-4 at 16384 photons
    (exactly ``4096 / N0`` times), 1.1e-3 at 1024 (the rule says 2.2e-3:
    below LoDoPaB's dose the best weight grows more slowly, roughly like
    ``1 / sqrt(N0)``; on the ``mixed`` family at 128x128 it doubles from
    5e-5 to 1e-4). Start from ``5e-5 * 4096 / N0`` and refine it on a few
    validation images with :func:`recon.algorithms.select_parameter`.

    Examples
    --------
    >>> import torch, recon
    >>> A = recon.RayTransform(recon.Geometry.parallel(image_size=32, num_angles=20, num_detectors=45))
    >>> x = tv(A(torch.ones(1, 1, 32, 32)), A, iterations=10)
    """
    check_sinogram(y, A, iterations)
    if data_term not in DEFAULT_WEIGHTS:
        raise ValueError(f"data_term: expected one of {tuple(DEFAULT_WEIGHTS)}, got {data_term!r}")
    weight = check_parameter("weight", DEFAULT_WEIGHTS[data_term] if weight is None else weight)
    check_parameter("step_ratio", step_ratio)
    check_parameter("mu_max", mu_max)
    x = initial_image(y, A, x0) if x0 is not None else fbp(y, A)
    with torch.no_grad():
        root_w = torch.exp(-0.5 * mu_max * y) if data_term == "wls" else None
        # Per-image ||W^1/2 A||: the problem is solved with W^1/2 A / norm (norm 1),
        # data W^1/2 y / norm and the objective divided by norm^2.
        norm = _weighted_norm(A, root_w) if root_w is not None else torch.tensor(A.norm())
        norm = norm.to(y.device, torch.float32)
        bound = (weight / norm**2)[..., None]
        data = (y if root_w is None else root_w * y) / norm
        # tau * (sigma * 1 + sigma / 8 * 8) = 0.99 with ||gradient||^2 <= 8.
        tau = 0.99 / math.sqrt(2) * math.sqrt(step_ratio)
        sigma = 0.99 / math.sqrt(2) / math.sqrt(step_ratio)
        dual_data = torch.zeros_like(y)
        dual_grad = torch.zeros((*x.shape[:2], 2, *x.shape[2:]), dtype=x.dtype, device=x.device)
        extrapolated = x

        def weighted(t: Tensor) -> Tensor:
            return t if root_w is None else root_w * t

        def step(x: Tensor) -> Tensor:
            nonlocal dual_data, dual_grad, extrapolated
            dual_data = (dual_data + sigma * (weighted(A(extrapolated)) / norm - data)) / (1 + sigma)
            dual_grad = dual_grad + (sigma / 8) * gradient(extrapolated)
            magnitude = torch.linalg.vector_norm(dual_grad, dim=2, keepdim=True)
            dual_grad = dual_grad * (bound / torch.maximum(magnitude, bound).clamp_min(1e-30))
            new = x - tau * (A.adjoint(weighted(dual_data)) / norm - divergence(dual_grad))
            if nonnegativity:
                new = new.clamp_min(0)
            extrapolated = 2 * new - x
            return new

        return iterate(step, x, iterations=iterations, callback=callback, tol=tol)


def _weighted_norm(A: LinearOperator, root_w: Tensor, *, iterations: int = 20,
                   rtol: float = 1e-3) -> Tensor:
    """``||diag(root_w) A||`` per image, shape (B, C, 1, 1), by power iteration.

    Starts from a constant image, close to the (positive) leading singular
    vector of a non-negative matrix, and adds 1 % against underestimation.
    """
    x = torch.ones((*root_w.shape[:2], *A.domain_shape), dtype=torch.float32, device=root_w.device)
    estimate = torch.zeros((*root_w.shape[:2], 1, 1), dtype=torch.float32, device=root_w.device)
    for _ in range(iterations):
        x = x / torch.linalg.vector_norm(x, dim=(2, 3), keepdim=True)
        x = A.adjoint(root_w**2 * A(x))
        new = torch.linalg.vector_norm(x, dim=(2, 3), keepdim=True).sqrt()
        converged = bool(torch.all((new - estimate).abs() <= rtol * new))
        estimate = new
        if converged:
            break
    return 1.01 * estimate
