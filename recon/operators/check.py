"""One diagnostic for any linear operator: :func:`check_operator` and its :class:`OperatorReport`."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor

from recon.operators.base import LinearOperator, dot_test

__all__ = ["OperatorReport", "check_operator"]


@dataclass(frozen=True)
class OperatorReport:
    """What :func:`check_operator` measured; every number is a relative error (0 is exact).

    Attributes
    ----------
    linearity : float
        ``||A(a x + b z) - (a A x + b A z)|| / ||a A x + b A z||``.
    adjointness : float
        The normalised dot test ``|<A x, y> - <x, A^T y>| / (||A x|| ||y||)``
        (:func:`~recon.operators.dot_test`).
    adjoint_of_adjoint : float
        ``||A.T.T x - A x|| / ||A x||``.
    norm : float
        ``|A.norm() - s| / s`` against ``s``, a separate power iteration on
        ``A^T A`` from another start (more iterations, tighter tolerance).
    gradient : float
        ``||grad_x <A x, y> - A^T y|| / ||A^T y||``: autograd's vector-Jacobian
        product of the forward is the adjoint.
    adjoint_gradient : float
        ``||grad_y <A^T y, x> - A x|| / ||A x||``: and that of the adjoint is the forward.
    batch_invariance : float
        ``max_i ||A(x)[i] - A(x[i:i+1])|| / ||A(x)[i]||``: images of a batch do not mix.
    device : float or None
        ``||A(x on CUDA) - A(x)|| / ||A(x)||``; None without a usable CUDA device.
    """

    linearity: float
    adjointness: float
    adjoint_of_adjoint: float
    norm: float
    gradient: float
    adjoint_gradient: float
    batch_invariance: float
    device: float | None

    def failures(self, tolerance: float = 1e-5, *, device_tolerance: float = 2e-2) -> list[str]:
        """The checks above their tolerance, as ``"name: value"``; ``device`` has its own (ASTRA CUDA is float32-fast)."""
        failed = []
        for field in fields(self):
            value = getattr(self, field.name)
            limit = device_tolerance if field.name == "device" else tolerance
            if value is not None and not value <= limit:  # NaN fails
                failed.append(f"{field.name}: {value:.3g} (tolerance {limit:g})")
        return failed

    def __str__(self) -> str:
        rows = [f"{field.name:<20}{'n/a' if getattr(self, field.name) is None else f'{getattr(self, field.name):.3g}'}"
                for field in fields(self)]
        return "\n".join(["check               relative error", *rows])


def _relative(a: Tensor, b: Tensor) -> float:
    return float(torch.linalg.vector_norm((a - b).double()) / torch.linalg.vector_norm(b.double()).clamp_min(1e-300))


def check_operator(operator: LinearOperator, *, batch: int = 3, seed: int = 0,
                   device: torch.device | str | None = "auto") -> OperatorReport:
    """Check that ``operator`` is linear, its adjoint exact, its norm right, its autograd and batching sound.

    Runs on the CPU with random inputs ``(batch, 1, *shape)`` (seeded), like
    ODL's ``OperatorTest`` but batched and for torch; every number is in the
    report, none is asserted here.

    Parameters
    ----------
    operator : LinearOperator
        A recon operator (:class:`~recon.RayTransform`, an ODL bridge, an
        adjoint view ...) with ``domain_shape`` and ``range_shape``.
    batch : int
        Images per random batch (>= 2, for the batch check).
    seed : int
        Seed of the random inputs and of the reference power iteration.
    device : "auto", torch.device, str or None
        Where to compare against the CPU: ``"auto"`` is the first CUDA device
        when one is usable, None skips the check.

    Returns
    -------
    OperatorReport
        ``report.failures()`` lists what exceeds a tolerance; ``print(report)`` shows all.

    Examples
    --------
    >>> import recon
    >>> A = recon.RayTransform(recon.Geometry.parallel(image_size=16, num_angles=10, num_detectors=23))
    >>> check_operator(A, device=None).failures()
    []
    """
    if batch < 2:
        raise ValueError(f"batch: expected at least 2 images (for the batch check), got {batch}")
    generator = torch.Generator().manual_seed(seed)

    def draw(shape: tuple[int, ...]) -> Tensor:
        return torch.rand((batch, 1, *shape), generator=generator)

    x, z, y = draw(operator.domain_shape), draw(operator.domain_shape), draw(operator.range_shape)
    with torch.no_grad():
        ax, az, aty = operator(x), operator(z), operator.adjoint(y)
        linearity = _relative(operator(2.0 * x - 3.0 * z), 2.0 * ax - 3.0 * az)
        adjoint_of_adjoint = _relative(operator.T.T(x), ax)
        batch_invariance = max(_relative(operator(x[i:i + 1])[0], ax[i]) for i in range(batch))
    x_grad = x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad((operator(x_grad) * y).sum(), x_grad)
    y_grad = y.clone().requires_grad_(True)
    (adjoint_gradient,) = torch.autograd.grad((operator.adjoint(y_grad) * x).sum(), y_grad)
    reference = _power_iteration(operator, seed=seed + 1)
    return OperatorReport(
        linearity=linearity,
        adjointness=dot_test(operator, batch=batch, seed=seed),
        adjoint_of_adjoint=adjoint_of_adjoint,
        norm=abs(operator.norm() - reference) / reference,
        gradient=_relative(gradient, aty),
        adjoint_gradient=_relative(adjoint_gradient, ax),
        batch_invariance=batch_invariance,
        device=_device_error(operator, x, ax, device),
    )


def _power_iteration(operator: LinearOperator, *, seed: int, iterations: int = 500, rtol: float = 1e-7) -> float:
    """``||A||`` by power iteration on ``A^T A`` from a random start, in float64 arithmetic of the estimates."""
    x = torch.rand((1, 1, *operator.domain_shape), generator=torch.Generator().manual_seed(seed))
    estimate = 0.0
    with torch.no_grad():
        for _ in range(iterations):
            x = x / torch.linalg.vector_norm(x)
            x = operator.adjoint(operator(x))
            new = float(torch.linalg.vector_norm(x.double())) ** 0.5
            if abs(new - estimate) <= rtol * new:
                return new
            estimate = new
    return estimate


def _device_error(operator: LinearOperator, x: Tensor, ax: Tensor, device: torch.device | str | None) -> float | None:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else None
    if device is None:
        return None
    try:
        moved = operator.to(device)
        with torch.no_grad():
            result = moved(x.to(device)).cpu()
    except (RuntimeError, ValueError):  # no CUDA-enabled backend for this operator here
        return None
    finally:
        operator.to("cpu")
    return _relative(result, ax)
