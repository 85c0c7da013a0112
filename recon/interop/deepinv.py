"""recon operators as DeepInverse physics, and DeepInverse's linear physics as recon operators.

:func:`to_physics` turns any recon :class:`~recon.operators.LinearOperator`
(a :class:`~recon.RayTransform` above all) into a ``deepinv.physics.LinearPhysics``
whose ``A``, ``A_adjoint`` and norm are recon's and whose noise is one of
:data:`NOISE_MODELS`, so that deepinv's solvers, priors, unrolled networks and
losses run on recon's exact operators. :func:`from_physics` goes the other way:
any deepinv linear physics becomes a recon operator, for recon's solvers,
models and :func:`~recon.operators.check_operator`.

Needs the ``deepinv`` extra (``pip install -e ".[deepinv]"``); importing this
module without it raises an ``ImportError`` that says so
(:func:`recon.interop.import_deepinv`).

Examples
--------
>>> import torch, recon
>>> from recon.interop.deepinv import to_physics
>>> A = recon.RayTransform(recon.Geometry.parallel(image_size=16, num_angles=12, num_detectors=23))
>>> physics = to_physics(A, noise="log-poisson", photons=4096, rng=torch.Generator().manual_seed(0))
>>> tuple(physics(torch.full((2, 1, 16, 16), 0.2)).shape)
(2, 1, 12, 23)
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from recon.checks import check_number
from recon.interop import import_deepinv
from recon.operators import LinearOperator
from recon.physics import LODOPAB_PHOTONS, MU_MAX, add_noise, check_photons, counts_to_post_log

deepinv = import_deepinv()

__all__ = ["NOISE_MODELS", "PhysicsOperator", "ReconLogPoissonNoise", "ReconPhysics", "from_physics", "to_physics"]

NoiseName = Literal["poisson", "log-poisson"]
#: The noise models of :func:`to_physics`: none, deepinv's Poisson on the line integrals, LoDoPaB-CT's post-log Poisson.
NOISE_MODELS = (None, "poisson", "log-poisson")


class ReconLogPoissonNoise(deepinv.physics.NoiseModel):
    """LoDoPaB-CT's post-log Poisson noise, drawn as :func:`recon.physics.simulate` draws it.

    Of noise-free post-log data ``z = A x`` (line integrals of the normalised
    attenuation, metres) it returns ``-log(max(c, 0.1) / N0) / mu_max`` with
    ``c ~ Poisson(N0 exp(-mu_max z))``: :func:`~recon.physics.add_noise` and
    :func:`~recon.physics.counts_to_post_log`, so the same generator state
    gives the same bytes as ``simulate(x, A, photons, seed=generator, factor=1)``.
    deepinv's own ``LogPoissonNoise(N0, mu)`` is the same model without the
    floor of 0.1 counts (it returns ``inf`` where a bin counts no photon).

    Parameters
    ----------
    photons : float
        ``N0``, photons per bin of the unattenuated beam (LoDoPaB: 4096).
    mu_max : float
        Attenuation of normalised value 1, in 1/m.
    rng : torch.Generator, optional
        The generator of the draws, on the data's device; default torch's
        global one. ``physics(x, seed=s)`` reseeds it first (deepinv's convention).
    """

    def __init__(self, photons: float = LODOPAB_PHOTONS, *, mu_max: float = MU_MAX,
                 rng: torch.Generator | None = None) -> None:
        super().__init__(rng=rng)
        self.photons = check_photons("photons", photons)
        self.mu_max = check_number("mu_max", mu_max, above=0)

    def forward(self, z: Tensor, seed: int | None = None, **kwargs) -> Tensor:
        """Noisy post-log sinograms of the noise-free ones ``z`` (any shape ``(B, ...)``), float32."""
        self.rng_manual_seed(seed)
        counts = add_noise(self.mu_max * z, photons=self.photons, seed=self.rng)
        return counts_to_post_log(counts, photons=self.photons, mu_max=self.mu_max)


class ReconPhysics(deepinv.physics.LinearPhysics):
    """A recon :class:`~recon.operators.LinearOperator` as a deepinv ``LinearPhysics``.

    ``A`` and ``A_adjoint`` are the operator's forward and exact adjoint on
    batches ``(B, C, *operator.domain_shape)``; deepinv's parameters
    (``**kwargs`` of ``A``) are accepted and ignored. :meth:`compute_sqnorm`
    (and ``compute_norm``) return ``operator.norm() ** 2`` (resp. its root),
    recon's cached power iteration that its solvers use. The operator is a
    submodule: ``clone()``, ``copy.deepcopy`` and ``.to(device)`` carry it
    (a :class:`~recon.RayTransform` follows the device of its input).
    Build it with :func:`to_physics`.

    Parameters
    ----------
    operator : LinearOperator
        The recon operator.
    noise_model : deepinv.physics.NoiseModel, optional
        Default none (``ZeroNoise``).
    **physics_options
        Passed to ``LinearPhysics``: ``max_iter``, ``tol``, ``solver`` of its
        least-squares ``A_dagger``, ``device``.
    """

    def __init__(self, operator: LinearOperator, *, noise_model=None, **physics_options) -> None:
        super().__init__(img_size=(1, *operator.domain_shape),
                         noise_model=noise_model if noise_model is not None else deepinv.physics.ZeroNoise(),
                         **physics_options)
        self.operator = operator

    def A(self, x: Tensor, **kwargs) -> Tensor:
        """``A x``: images ``(B, C, *domain_shape)`` to data ``(B, C, *range_shape)``."""
        return self.operator(x)

    def A_adjoint(self, y: Tensor, **kwargs) -> Tensor:
        """``A^T y``: data ``(B, C, *range_shape)`` to images ``(B, C, *domain_shape)``."""
        return self.operator.adjoint(y)

    def compute_sqnorm(self, x0: Tensor, *, max_iter: int = 100, tol: float = 1e-3, verbose: bool = True,
                       rng: torch.Generator | None = None, **kwargs) -> Tensor:
        """``||A||^2`` from ``operator.norm()``, as a scalar tensor of ``x0``'s dtype and device.

        deepinv's power-method options are ignored: recon's estimate iterates
        to a relative change of 1e-5 once and is cached on the operator.
        """
        return torch.tensor(self.operator.norm() ** 2, dtype=x0.dtype, device=x0.device)


def to_physics(A: LinearOperator, noise: NoiseName | None = None, photons: float = LODOPAB_PHOTONS, *,
               mu_max: float = MU_MAX, rng: torch.Generator | None = None, **physics_options) -> ReconPhysics:
    """``A`` as a deepinv ``LinearPhysics`` with a CT noise model.

    Parameters
    ----------
    A : LinearOperator
        A recon operator, e.g. a :class:`~recon.RayTransform`: images
        ``(B, C, nx, ny)`` on LoDoPaB-CT's normalised attenuation scale to
        post-log sinograms ``(B, C, num_angles, num_detectors)`` in metres.
    noise : {None, "poisson", "log-poisson"}
        ``None``: ``physics(x) == A(x)``. ``"log-poisson"``: LoDoPaB-CT's
        transmission model in post-log form (:class:`ReconLogPoissonNoise`,
        recon's :func:`~recon.physics.simulate` without its finer grid): the
        model of CT data. ``"poisson"``: deepinv's ``PoissonNoise`` on the
        line integrals themselves, ``Poisson(N0 A x) / N0`` (gain ``1 / N0``,
        negative values clipped to 0): the counting model of emission
        tomography that deepinv's ``PoissonLikelihood`` assumes, not a CT model.
    photons : float
        ``N0`` of either noise model, photons per bin (LoDoPaB: 4096).
    mu_max : float
        Attenuation of normalised value 1, in 1/m (``"log-poisson"``).
    rng : torch.Generator, optional
        Generator of the noise draws, on the data's device; default torch's global one.
    **physics_options
        ``max_iter``, ``tol``, ``solver`` of deepinv's least-squares
        ``A_dagger``, ``device`` (see :class:`ReconPhysics`).

    Returns
    -------
    ReconPhysics

    Raises
    ------
    TypeError
        ``A`` is not a recon ``LinearOperator``.
    ValueError
        ``noise`` is not one of :data:`NOISE_MODELS`; ``photons`` is not in (0, 1e15].
    """
    if not isinstance(A, LinearOperator):
        raise TypeError(f"A: expected a recon LinearOperator (RayTransform, an ODL bridge ...), "
                        f"got {type(A).__name__}")
    if noise not in NOISE_MODELS:
        raise ValueError(f"noise: expected one of {NOISE_MODELS}, got {noise!r}")
    photons = check_photons("photons", photons)
    if noise == "log-poisson":
        noise_model = ReconLogPoissonNoise(photons, mu_max=mu_max, rng=rng)
    elif noise == "poisson":
        noise_model = deepinv.physics.PoissonNoise(gain=1 / photons, clip_positive=True, rng=rng)
    else:
        noise_model = None
    return ReconPhysics(A, noise_model=noise_model, **physics_options)


class PhysicsOperator(LinearOperator):
    """A deepinv linear physics as a recon :class:`~recon.operators.LinearOperator`.

    ``forward`` is the physics' noise-free ``A``, ``adjoint`` its ``A_adjoint``;
    autograd differentiates both as deepinv computes them. Build it with
    :func:`from_physics`.

    Parameters
    ----------
    physics : deepinv.physics.LinearPhysics
        The physics (a submodule of this operator).
    domain_shape : tuple of int
        Image shape without batch and channel, e.g. ``(H, W)``.
    """

    def __init__(self, physics, domain_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.physics = physics
        self.domain_shape = tuple(int(n) for n in domain_shape)
        with torch.no_grad():
            probe = physics.A(torch.zeros((1, 1, *self.domain_shape)))
        if not isinstance(probe, Tensor):
            raise TypeError(f"physics: expected measurements that are one tensor, got {type(probe).__name__} "
                            f"(stacked physics are not supported)")
        self.range_shape = tuple(probe.shape[2:])

    def forward(self, x: Tensor) -> Tensor:
        """``A x``: ``(B, C, *domain_shape) -> (B, C, *range_shape)``."""
        return self.physics.A(x)

    def adjoint(self, y: Tensor) -> Tensor:
        """``A^T y``: ``(B, C, *range_shape) -> (B, C, *domain_shape)``."""
        return self.physics.A_adjoint(y)


def from_physics(physics, domain_shape: tuple[int, ...] | None = None) -> PhysicsOperator:
    """Any deepinv ``LinearPhysics`` as a recon operator.

    Parameters
    ----------
    physics : deepinv.physics.LinearPhysics
        A linear physics (its ``A`` and ``A_adjoint``; its noise is not used).
    domain_shape : tuple of int, optional
        Image shape without batch and channel; default the physics'
        ``img_size`` without its channel.

    Returns
    -------
    PhysicsOperator
        With ``range_shape`` read off ``physics.A`` of a zero image.

    Raises
    ------
    TypeError
        ``physics`` is not a deepinv ``LinearPhysics``, or its measurements are not one tensor.
    ValueError
        No ``domain_shape`` given and the physics has no ``img_size``.
    """
    if not isinstance(physics, deepinv.physics.LinearPhysics):
        raise TypeError(f"physics: expected a deepinv LinearPhysics (with an adjoint), got {type(physics).__name__}")
    if domain_shape is None:
        img_size = getattr(physics, "img_size", None)
        if not img_size:
            raise ValueError(f"domain_shape: expected the image shape, e.g. (H, W), since this "
                             f"{type(physics).__name__} has no img_size")
        domain_shape = tuple(img_size)[1:]
    return PhysicsOperator(physics, domain_shape)
