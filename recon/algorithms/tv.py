"""Total-variation regularised reconstruction by PDHG (Chambolle-Pock)."""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

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
from recon.checks import check_finite, check_number
from recon.geometry import SMALL_PRESET
from recon.operators import LinearOperator, RayTransform
from recon.physics import LODOPAB_PHOTONS, MU_MAX, estimate_photons

__all__ = ["REFERENCE_ANGLES", "WEIGHT_RULES", "WLS_BELOW_PHOTONS", "DataTerm", "WeightRule", "default_data_term",
           "default_objective", "default_weight", "divergence", "gradient", "noise_photons", "rule_weight", "tv"]

DataTerm = Literal["wls", "ls"]

#: The default data term follows the noise level: ``"wls"`` for a batch whose median ``N0`` is
#: below this many photons per bin, ``"ls"`` above (where the weighted term, slower to converge,
#: falls behind). Both this and :data:`WEIGHT_RULES` are fitted on validation images (pelvis,
#: polygons) by ``python experiments/tv_weight_rule.py`` (its ``rule.json``; a test checks they agree).
WLS_BELOW_PHOTONS = 6400.0
#: The number of angles the rules' ``weight_at_4096`` holds for: the small preset's (over 180 degrees,
#: 183 bins, 128x128; :meth:`recon.Geometry.lodopab_small`).
REFERENCE_ANGLES = SMALL_PRESET["num_angles"]


class WeightRule(NamedTuple):
    """A data term's default TV weight: ``weight_at_4096 * (4096 / N0) ** exponent * (angles / 360) ** angle_exponent``."""

    weight_at_4096: float
    exponent: float
    angle_exponent: float


#: Each data term's :class:`WeightRule`.
WEIGHT_RULES: dict[str, WeightRule] = {"ls": WeightRule(5.67e-5, 0.893, 0.362), "wls": WeightRule(9.6e-7, 0.697, 0.296)}


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
    weight: float | Tensor | None = None,
    iterations: int = 200,
    data_term: DataTerm | None = None,
    photons: float | None = None,
    mu_max: float = MU_MAX,
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
    weight : float or Tensor of shape (B,), optional
        ``lambda``, for the batch or per image. Default
        :func:`default_weight`: from the noise level of each sinogram (its
        ``N0``, estimated from the data unless ``photons`` is given) by the
        data term's rule in :data:`WEIGHT_RULES`, fitted on validation
        images (never test images) at 1024 to 16384 photons, 360 and 60
        angles (the weight scales with ``A.geometry.num_angles``).
    iterations : int
        PDHG iterations (>= 0); each costs one ``A`` and one ``A^T``.
    data_term : {"ls", "wls"}
        ``"ls"``: ``w_i = 1``. ``"wls"``: ``w_i = exp(-mu_max y_i)``, the
        measured fraction of photons reaching bin ``i``: the quadratic
        approximation of the Poisson log-likelihood of the counts (Sauer &
        Bouman, IEEE TSP 41(2), 1993) up to the factor ``N0 mu_max^2``; it
        trusts the bins behind strong attenuation less, as their noise
        deserves. Default :func:`default_data_term`: the better of the two
        on validation images at the noise level of ``y``.
    photons : float, optional
        ``N0`` of ``y``, photons per bin, for the default term and weight;
        default :func:`recon.physics.estimate_photons` of each sinogram.
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
    The default term and weight follow the dose and the number of angles,
    not the image, and were fitted at 300 iterations on 128x128 images with
    183 bins (``experiments/results/tv_weight_rule``: within 0.35 dB of the
    best weight on each validation family at 1024, 4096 and 16384 photons,
    360 and 60 angles). Images with much fine structure may want less, sparse
    high-contrast toy images more (5e-4 with ``"ls"`` on the 48x48 ellipses
    of the test suite): refine the weight on validation images of your own
    with :func:`recon.algorithms.select_parameter`. The discrepancy
    principle (the weight whose result has data consistency 1) cannot
    choose it here: the noise-normalised residual changes by about 1 % per
    doubling of the weight near the best one, less than the uncertainty of
    the noise level.

    Examples
    --------
    >>> import torch, recon
    >>> A = recon.RayTransform(recon.Geometry.parallel(image_size=32, num_angles=20, num_detectors=45))
    >>> x = tv(A(torch.ones(1, 1, 32, 32)), A, iterations=10)
    """
    check_sinogram(y, A, iterations)
    if data_term not in (None, *WEIGHT_RULES):
        raise ValueError(f"data_term: expected one of {tuple(WEIGHT_RULES)}, got {data_term!r}")
    check_parameter("step_ratio", step_ratio)
    check_parameter("mu_max", mu_max)
    if data_term is None or weight is None:
        data_term, rule = default_objective(y, data_term, photons=photons, mu_max=mu_max)
        weight = rule if weight is None else weight
    weight = _per_image(weight, len(y)).to(y.device)
    x = initial_image(y, A, x0) if x0 is not None else fbp(y, A)
    with torch.no_grad():
        root_w = torch.exp(-0.5 * mu_max * y) if data_term == "wls" else None
        # Per-image ||W^1/2 A||: the problem is solved with W^1/2 A / norm (norm 1),
        # data W^1/2 y / norm and the objective divided by norm^2.
        norm = _weighted_norm(A, root_w) if root_w is not None else torch.tensor(A.norm())
        norm = norm.to(y.device, torch.float32)
        bound = (weight / norm**2)[..., None]  # (B, 1, 1, 1, 1): per image, broadcast over (C, 2, H, W)
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
            # |.| over the 2 components; torch's reduction over that middle axis of size 2 was 180x slower
            magnitude = torch.hypot(dual_grad[:, :, 0:1], dual_grad[:, :, 1:2])
            dual_grad = dual_grad * (bound / torch.maximum(magnitude, bound).clamp_min(1e-30))
            new = x - tau * (A.adjoint(weighted(dual_data)) / norm - divergence(dual_grad))
            if nonnegativity:
                new = new.clamp_min(0)
            extrapolated = 2 * new - x
            return new

        return iterate(step, x, iterations=iterations, callback=callback, tol=tol)


def noise_photons(y: Tensor, photons: float | None = None, *, mu_max: float = MU_MAX) -> Tensor:
    """``N0`` of each sinogram, shape (B,) float64: ``photons`` if given, else :func:`recon.physics.estimate_photons`."""
    if photons is None:
        return estimate_photons(y, mu_max=mu_max)
    return torch.full((len(y),), check_number("photons", photons, above=0), dtype=torch.float64)


def default_data_term(photons: Tensor, *, wls_below: float = WLS_BELOW_PHOTONS) -> DataTerm:
    """``"wls"`` if the median of ``photons`` (``N0`` of each sinogram, shape (B,)) is below ``wls_below``, else ``"ls"``."""
    return "wls" if float(photons.median()) < wls_below else "ls"


def rule_weight(photons: Tensor, rule: WeightRule, num_angles: int = REFERENCE_ANGLES) -> Tensor:
    """``rule``'s weight per ``N0`` of ``photons`` (B,) for sinograms of ``num_angles`` angles; float32."""
    angle_factor = (num_angles / REFERENCE_ANGLES) ** rule.angle_exponent
    return (rule.weight_at_4096 * (LODOPAB_PHOTONS / photons) ** rule.exponent * angle_factor).float()


def default_weight(y: Tensor, data_term: DataTerm | None = None, *, photons: float | None = None,
                   mu_max: float = MU_MAX) -> Tensor:
    """TV's default weight of each sinogram, from its noise level by :data:`WEIGHT_RULES`.

    Parameters
    ----------
    y : Tensor, shape (B, C, A, D)
        Post-log sinograms on LoDoPaB-CT's scale, ``A`` angles over 180 degrees.
    data_term : {"ls", "wls"}, optional
        Default :func:`default_data_term` of the batch's noise level.
    photons : float, optional
        ``N0`` of every sinogram; default :func:`recon.physics.estimate_photons` of each.
    mu_max : float
        Attenuation scale of ``y`` in 1/m.

    Returns
    -------
    Tensor, shape (B,), float32
        The term's :class:`WeightRule` at each sinogram's ``N0`` and ``A``.
    """
    return default_objective(y, data_term, photons=photons, mu_max=mu_max)[1]


def default_objective(y: Tensor, data_term: DataTerm | None = None, *, photons: float | None = None,
                      mu_max: float = MU_MAX) -> tuple[DataTerm, Tensor]:
    """TV's default data term for the batch ``y (B, C, A, D)`` (unless given) and its rule's weight per image (B,).

    Both from the noise level, :func:`default_data_term` and :data:`WEIGHT_RULES` at
    the ``A`` angles of ``y``; ``photons`` as in :func:`noise_photons`.
    """
    n0 = noise_photons(y, photons, mu_max=mu_max)
    data_term = data_term or default_data_term(n0)
    return data_term, rule_weight(n0, WEIGHT_RULES[data_term], y.shape[-2])


def _per_image(weight: float | Tensor, batch: int) -> Tensor:
    """``weight`` as a (B, 1, 1, 1) float32 tensor: one number for the batch or one per image, finite and >= 0."""
    if not isinstance(weight, Tensor):
        return torch.full((batch, 1, 1, 1), check_parameter("weight", weight))
    values = weight.detach().float().flatten().cpu()
    if values.numel() != batch:
        raise ValueError(f"weight: expected a number or {batch} of them (one per image), got a tensor of "
                         f"shape {tuple(weight.shape)}")
    check_finite(values, "weight")
    if bool(torch.any(values < 0)):
        raise ValueError(f"weight: expected values >= 0, got {values.min().item():g}")
    return values.reshape(batch, 1, 1, 1)


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
