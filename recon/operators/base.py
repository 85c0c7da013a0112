"""The linear-operator abstraction shared by solvers and networks."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["LinearOperator", "AdjointOperator", "dot_test"]


class LinearOperator(nn.Module):
    """A linear map between tensor spaces with an explicit adjoint.

    Subclasses implement :meth:`forward` and :meth:`adjoint` on batches
    ``(B, C, *domain_shape) -> (B, C, *range_shape)`` and set
    ``domain_shape`` / ``range_shape``. Solvers and unrolled networks use the
    adjoint explicitly; :attr:`T` is a module view with the roles swapped.
    """

    domain_shape: tuple[int, ...]
    range_shape: tuple[int, ...]

    def __init__(self) -> None:
        super().__init__()
        self._norm_cache: float | None = None

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def adjoint(self, y: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def T(self) -> LinearOperator:
        """The adjoint as an operator: ``A.T(y) == A.adjoint(y)``."""
        return AdjointOperator(self)

    def norm(
        self,
        *,
        iterations: int = 100,
        rtol: float = 1e-5,
        seed: int = 0,
        device: torch.device | str | None = None,
        recompute: bool = False,
    ) -> float:
        """Operator 2-norm ``||A||`` by power iteration on ``A^T A`` (cached).

        Parameters
        ----------
        iterations : int
            Maximum number of power iterations.
        rtol : float
            Stop when the estimate changes by less than this, relatively.
        seed : int
            Seed of the random start vector.
        device : torch.device or str, optional
            Where to iterate; default CPU.
        recompute : bool
            Ignore the cached value.

        Returns
        -------
        float
            The largest singular value, in the operator's units.
        """
        if self._norm_cache is not None and not recompute:
            return self._norm_cache
        generator = torch.Generator().manual_seed(seed)
        x = torch.rand((1, 1, *self.domain_shape), generator=generator)
        x = x.to(device or "cpu")
        estimate = 0.0
        with torch.no_grad():
            for _ in range(iterations):
                x = x / torch.linalg.vector_norm(x)
                x = self.adjoint(self.forward(x))
                new = float(torch.linalg.vector_norm(x)) ** 0.5
                converged = abs(new - estimate) <= rtol * new
                estimate = new
                if converged:
                    break
        self._norm_cache = estimate
        return estimate


class AdjointOperator(LinearOperator):
    """The adjoint ``A^T`` of a :class:`LinearOperator` as an operator of its own."""

    def __init__(self, operator: LinearOperator) -> None:
        super().__init__()
        self.operator = operator
        self.domain_shape = operator.range_shape
        self.range_shape = operator.domain_shape

    def forward(self, y: Tensor) -> Tensor:
        return self.operator.adjoint(y)

    def adjoint(self, x: Tensor) -> Tensor:
        return self.operator(x)

    @property
    def T(self) -> LinearOperator:
        return self.operator

    def norm(self, **kwargs) -> float:
        return self.operator.norm(**kwargs)


def dot_test(operator: LinearOperator, *, batch: int = 2, seed: int = 0,
             device: torch.device | str = "cpu") -> float:
    """Normalised adjoint mismatch ``|<Ax, y> - <x, A^T y>| / (||Ax|| ||y||)``.

    Parameters
    ----------
    operator : LinearOperator
    batch : int
        Number of random pairs, evaluated as one batch.
    seed : int
        Seed of the random test vectors.
    device : torch.device or str

    Returns
    -------
    float
        0 for an exact adjoint; float32 rounding gives about 1e-7.
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand((batch, 1, *operator.domain_shape), generator=generator).to(device)
    y = torch.rand((batch, 1, *operator.range_shape), generator=generator).to(device)
    with torch.no_grad():
        ax = operator(x).double()
        aty = operator.adjoint(y).double()
    lhs = torch.sum(ax * y.double())
    rhs = torch.sum(x.double() * aty)
    scale = torch.linalg.vector_norm(ax) * torch.linalg.vector_norm(y.double())
    return float(torch.abs(lhs - rhs) / scale)
