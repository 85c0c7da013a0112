"""Training losses: supervised ones against ground truths, self-supervised ones from the noisy sinograms alone.

Supervised (:func:`training_loss`): ``"mse"`` and ``"psnr"`` compare a
reconstruction with its clean image.

Self-supervised (:func:`self_supervised_loss` builds them by name; each is
called as ``loss(model, y)`` on a batch of post-log sinograms and reads no
image):

``"noise2inverse"`` -- :class:`Noise2Inverse`
    Hendriksen, Pelt & Batenburg, "Noise2Inverse", IEEE TCI 6 (2020): the
    angles are split into ``K`` subsets; a post-processing network learns to
    map the FBP of ``K - 1`` subsets to the FBP of the remaining one, whose
    noise is independent of its input's.
``"sure"`` -- :class:`SureLoss`
    Stein's unbiased estimate of the measurement-domain risk
    ``E ||A f(y) - A x||^2_W`` under Gaussian noise of LoDoPaB-CT's post-log
    variance (:func:`recon.physics.post_log_variance`), its divergence by one
    Monte-Carlo probe (Ramani, Blu & Unser, IEEE TIP 17, 2008).
``"ei"`` -- :class:`EquivariantImaging`
    Chen, Tachella & Davies, "Equivariant Imaging", ICCV 2021: measurement
    consistency plus the consistency of the model with rotated copies of its
    own output, which teaches it what ``A`` cannot see when the images'
    distribution is rotation invariant.

Random draws (subsets, probes, rotations) come from ``generator`` when given,
else from torch's global generator (seeded and checkpointed by the trainer).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor, nn

from recon.geometry import Geometry
from recon.operators import LinearOperator, RayTransform

__all__ = ["Loss", "SUPERVISED_LOSSES", "SELF_SUPERVISED_LOSSES", "training_loss", "self_supervised_loss",
           "Noise2Inverse", "SureLoss", "EquivariantImaging", "random_rotation", "post_log_noise_variance"]

Loss = Literal["mse", "psnr", "noise2inverse", "sure", "ei"]
#: Losses that compare with ground-truth images.
SUPERVISED_LOSSES = ("mse", "psnr")
#: Losses computed from the sinograms alone.
SELF_SUPERVISED_LOSSES = ("noise2inverse", "sure", "ei")
#: ``(B, 1, A, D)`` sinograms -> per-bin noise variance, same shape (squared sinogram units).
Variance = Callable[[Tensor], Tensor]
#: ``(images (B, C, nx, ny), generator)`` -> transformed images of the same shape.
Transform = Callable[[Tensor, "torch.Generator | None"], Tensor]


def training_loss(output: Tensor, target: Tensor, kind: Loss) -> Tensor:
    """The supervised loss a training step minimises.

    Parameters
    ----------
    output, target : Tensor
        Reconstructions and ground truths, ``(B, 1, H, W)``, attenuation in
        1/m (or the data's units); ``output`` is cast to float32.
    kind : {"mse", "psnr"}
        ``"mse"``: the mean squared error over the whole batch, so that images
        with large errors (bone, field-edge crops) dominate the gradient.
        ``"psnr"``: ``10 log10`` of each image's mean squared error, averaged
        over the batch -- minus the mean PSNR, up to a per-image constant
        (the data range), so that every image counts as much as it does in the
        benchmark's mean PSNR. In dB.

    Returns
    -------
    Tensor
        Scalar.
    """
    error = (output.float() - target) ** 2
    if kind == "mse":
        return error.mean()
    if kind == "psnr":
        per_image = error.flatten(1).mean(dim=1)
        return 10 * torch.log10(per_image.clamp_min(torch.finfo(per_image.dtype).tiny)).mean()
    raise ValueError(f"loss: expected one of {SUPERVISED_LOSSES} with ground truths, got {kind!r}")


def post_log_noise_variance(y: Tensor, photons: float | None = None) -> Tensor:
    """LoDoPaB-CT's post-log noise variance of each bin, ``exp(mu_max y) / (N0 mu_max^2)``.

    Parameters
    ----------
    y : Tensor, shape (B, 1, A, D)
        Noisy post-log sinograms (normalised attenuation, metres); the
        variance is evaluated at the noisy values (the clean ones are unknown).
    photons : float, optional
        ``N0``, photons per bin; by default each sinogram's own estimate
        (:func:`recon.physics.estimate_photons`, within a few % at 360 angles).

    Returns
    -------
    Tensor, same shape as ``y``
        Squared metres.
    """
    from recon.algorithms.tv import noise_photons
    from recon.physics import post_log_variance

    with torch.no_grad():
        return post_log_variance(y, noise_photons(y, photons))


def _mean_square(difference: Tensor) -> Tensor:
    return difference.float().pow(2).mean()


class Noise2Inverse:
    """Noise2Inverse for a post-processing model (``model.denoise`` after an FBP).

    Angle ``i`` belongs to subset ``i mod K``. For each sinogram one subset
    ``k`` is drawn; the input is the mean FBP of the other ``K - 1`` subsets,
    the target the FBP of subset ``k``. Their noises are independent, so the
    loss is, in expectation, the supervised loss against the noise-free FBP
    of subset ``k`` plus a constant (Hendriksen et al. 2020, eq. 10).

    Parameters
    ----------
    geometry : Geometry
        The sinograms' 2D geometry; its angle count must be a multiple of
        ``subsets``.
    subsets : int
        ``K >= 2``.
    fbp_filter, frequency_scaling
        The FBP of the subsets (as the model's own, by default Hann at 0.641).
    cpu_backend : str
        Backend of the subsets' ray transforms.

    Notes
    -----
    The network meets FBPs of ``(K - 1) / K`` of the angles in training and
    of all of them when it reconstructs; their noise differs by that factor
    in variance (Hendriksen et al. average ``K`` outputs instead).
    """

    def __init__(self, geometry: Geometry, *, subsets: int = 4, fbp_filter: str = "hann",
                 frequency_scaling: float = 0.641, cpu_backend: str = "sparse") -> None:
        if not isinstance(subsets, int) or isinstance(subsets, bool) or subsets < 2:
            raise ValueError(f"subsets: expected an integer >= 2, got {subsets!r}")
        if geometry.num_angles % subsets:
            raise ValueError(f"subsets: expected a divisor of the geometry's {geometry.num_angles} angles, "
                             f"got {subsets}")
        self.subsets = subsets
        self.operators = [RayTransform(geometry.angle_subset(subsets, k), cpu_backend=cpu_backend)
                          for k in range(subsets)]
        self.fbp_options = {"filter": fbp_filter, "frequency_scaling": frequency_scaling}

    def split(self, y: Tensor) -> Tensor:
        """The FBP of each angle subset: ``(K, B, 1, nx, ny)`` from sinograms ``(B, 1, A, D)``."""
        from recon.algorithms import fbp

        with torch.no_grad():
            return torch.stack([fbp(y[:, :, k::self.subsets].contiguous(), operator, **self.fbp_options)
                                for k, operator in enumerate(self.operators)])

    def pairs(self, y: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(inputs, targets)``, each ``(B, 1, nx, ny)``: the other subsets' mean FBP and one subset's FBP."""
        parts = self.split(y)
        held_out = torch.randint(self.subsets, (y.shape[0],), generator=generator).to(y.device)
        targets = parts[held_out, torch.arange(y.shape[0], device=y.device)]
        return (parts.sum(dim=0) - targets) / (self.subsets - 1), targets

    def __call__(self, model: nn.Module, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Mean squared difference between ``model.denoise(inputs)`` and the targets: a scalar, image units squared."""
        inputs, targets = self.pairs(y, generator)
        return _mean_square(model.denoise(inputs) - targets)


class SureLoss:
    """Stein's unbiased risk estimate in the measurement domain, per bin.

    For ``y = A x + n``, ``n ~ N(0, diag(sigma^2))`` and ``h(y) = A f(y)``,
    ``||h - y||^2_W - tr(W Sigma) + 2 tr(W Sigma dh/dy)`` is an unbiased
    estimate of ``||h - A x||^2_W``; the trace is estimated by one probe
    ``b ~ N(0, I)``: ``(W s b)^T (h(y + tau s b) - h(y)) / tau`` with
    ``s = sigma``.

    Parameters
    ----------
    operator : LinearOperator
        ``A``, images ``(B, 1, nx, ny)`` -> sinograms ``(B, 1, A, D)``.
    variance : callable, optional
        Sinograms -> per-bin noise variance; default
        :func:`post_log_noise_variance` (LoDoPaB-CT's model, ``N0`` estimated
        from each sinogram).
    weighting : {"inverse-variance", "none"}
        ``W = Sigma^-1`` (each bin in units of its own noise, as the Poisson
        likelihood weighs them) or ``W = I``.
    tau : float
        Probe step in units of each bin's noise standard deviation.
    """

    def __init__(self, operator: LinearOperator, *, variance: Variance | None = None,
                 weighting: Literal["inverse-variance", "none"] = "inverse-variance", tau: float = 0.01) -> None:
        if weighting not in ("inverse-variance", "none"):
            raise ValueError(f"weighting: expected 'inverse-variance' or 'none', got {weighting!r}")
        if not (isinstance(tau, (int, float)) and math.isfinite(tau) and tau > 0):
            raise ValueError(f"tau: expected a positive number, got {tau!r}")
        self.operator = operator
        self.variance = post_log_noise_variance if variance is None else variance
        self.weighting = weighting
        self.tau = float(tau)

    def __call__(self, model: nn.Module, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The estimate for ``model`` on sinograms ``y (B, 1, A, D)``, averaged over bins and images.

        Returns
        -------
        Tensor
            Scalar: squared sinogram units (``W = I``) or dimensionless
            (inverse variance). Two forward passes of ``model``.
        """
        variance = self.variance(y).to(y.dtype)
        sigma = variance.sqrt()
        weight = 1.0 / variance if self.weighting == "inverse-variance" else torch.ones_like(variance)
        probe = torch.randn(y.shape, generator=generator, dtype=y.dtype).to(y.device)
        estimate = self.operator(model(y).float())
        perturbed = self.operator(model(y + self.tau * sigma * probe).float())
        divergence = (weight * sigma * probe * (perturbed - estimate)).sum() / self.tau
        risk = (weight * (estimate - y) ** 2).sum() - (weight * variance).sum() + 2 * divergence
        return risk / y.numel()


def random_rotation(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Each image rotated about the centre of its grid by its own angle drawn uniformly from [0, 2 pi).

    Bilinear interpolation, zeros outside the rotated field.

    Parameters
    ----------
    images : Tensor, shape (B, C, nx, ny)
        Square pixels.
    generator : torch.Generator, optional

    Returns
    -------
    Tensor, same shape
    """
    angles = 2 * math.pi * torch.rand(images.shape[0], generator=generator, dtype=torch.float64)
    cos, sin = torch.cos(angles), torch.sin(angles)
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = nn.functional.affine_grid(theta.to(images.device, images.dtype), list(images.shape),
                                     align_corners=False)
    return nn.functional.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class EquivariantImaging:
    """Equivariant Imaging for a model ``f`` that maps sinograms to images (e.g. an unrolled network).

    ``x1 = f(y)``, ``x2 = T x1`` for a random transform ``T``,
    ``x3 = f(A x2)``; the loss is ``data(x1) + weight * mean (x3 - x2)^2``,
    the data term either measurement consistency ``mean (A x1 - y)^2`` or
    :class:`SureLoss` (Robust EI: Chen et al., CVPR 2022). Gradients flow
    through ``x2`` as well, as in Chen et al.

    Parameters
    ----------
    operator : LinearOperator
        ``A``.
    weight : float
        Of the equivariance term (image units squared) against the data term.
    data_term : {"mc", "sure"}
        ``"sure"``: :class:`SureLoss` with its defaults, and ``A x2`` gets
        noise of the same variance model before ``f`` sees it.
    transform : callable, optional
        ``(images, generator) -> images``; default :func:`random_rotation`.
    """

    def __init__(self, operator: LinearOperator, *, weight: float = 1.0, data_term: Literal["mc", "sure"] = "mc",
                 transform: Transform | None = None) -> None:
        if data_term not in ("mc", "sure"):
            raise ValueError(f"data_term: expected 'mc' or 'sure', got {data_term!r}")
        if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight: expected a number >= 0, got {weight!r}")
        self.operator = operator
        self.weight = float(weight)
        self.sure = SureLoss(operator) if data_term == "sure" else None
        self.transform = random_rotation if transform is None else transform

    def __call__(self, model: nn.Module, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The loss of ``model`` on sinograms ``y (B, 1, A, D)``: a scalar, two (SURE: three) forward passes."""
        x1 = model(y).float()
        data = _mean_square(self.operator(x1) - y) if self.sure is None else self.sure(model, y, generator)
        x2 = self.transform(x1, generator)
        y2 = self.operator(x2)
        if self.sure is not None:
            noise = torch.randn(y2.shape, generator=generator, dtype=y2.dtype).to(y2.device)
            y2 = y2 + self.sure.variance(y2.detach()).sqrt() * noise
        return data + self.weight * _mean_square(model(y2) - x2)


def self_supervised_loss(name: str, model: nn.Module, **options: Any):
    """The self-supervised loss ``name`` for ``model``, built with its geometry, operator and FBP settings.

    Parameters
    ----------
    name : {"noise2inverse", "sure", "ei"}
    model : LearnedReconstructor
        ``noise2inverse`` needs a post-processing model (one with ``denoise``).
    **options
        The loss's keyword arguments (``subsets``; ``weighting``, ``tau``;
        ``weight``, ``data_term``).

    Returns
    -------
    callable
        ``loss(model, y, generator=None) -> scalar Tensor``.
    """
    if name == "noise2inverse":
        if not hasattr(model, "denoise"):
            raise ValueError(f"loss: noise2inverse trains a post-processing model (fbpconvnet, redcnn, dncnn), "
                             f"got {getattr(model, 'name', type(model).__name__)!r}")
        defaults = {"fbp_filter": model.fbp_filter, "frequency_scaling": model.frequency_scaling}
        return Noise2Inverse(model.geometry, **{**defaults, **options})
    if name == "sure":
        return SureLoss(model.operator, **options)
    if name == "ei":
        return EquivariantImaging(model.operator, **options)
    raise ValueError(f"loss: expected one of {SELF_SUPERVISED_LOSSES} without ground truths, got {name!r}")
