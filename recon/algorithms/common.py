"""What every reconstruction method shares: input checks and the iteration loop.

Methods call :func:`check_sinogram` first and iterative solvers drive their
updates through :func:`iterate`, which owns the iteration count, the
per-iteration callback and the early stop, so all methods behave alike;
:func:`shared_docstring` gives them the same documentation of those options.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor

from recon.checks import check_finite, check_number
from recon.operators import LinearOperator

__all__ = [
    "PARAMETER_BOUNDS",
    "Callback",
    "check_iterations",
    "check_parameter",
    "check_sinogram",
    "initial_image",
    "iterate",
    "shared_docstring",
]

#: Docstring sections every iterative solver shares, inserted by :func:`shared_docstring`.
_SHARED_SECTIONS = {
    "loop_parameters": """\
callback : Callback, optional
    ``callback(iteration, x)`` after every iteration; returning ``True`` stops.
tol : float
    Stop once ``||x_k - x_(k-1)|| <= tol ||x_k||`` for every image; 0 never stops early.

Returns
-------
Tensor, shape (B, C, H, W), float32
    On the device of ``y``.""",
    "start_parameter": """\
x0 : Tensor, shape (B, C, H, W), optional
    Starting image; default zeros.""",
}


#: Ranges of the numeric parameters of the methods, by name (bounds of :func:`recon.checks.check_number`).
PARAMETER_BOUNDS: dict[str, dict[str, float]] = {
    "weight": {"at_least": 0},
    "step_ratio": {"above": 0},
    "mu_max": {"above": 0},
    "relaxation": {"above": 0, "below": 2},
    "frequency_scaling": {"above": 0, "at_most": 1},
    "tol": {"at_least": 0},
}


def check_parameter(name: str, value: object) -> float:
    """``value`` as a float if it is a finite number in the range :data:`PARAMETER_BOUNDS` gives ``name``."""
    return check_number(name, value, **PARAMETER_BOUNDS[name])


class Callback(Protocol):
    """Called after every iteration as ``callback(iteration, x)``.

    ``iteration`` counts from 1; ``x`` is the current iterate ``(B, C, H, W)``
    (do not modify it in place). Return ``True`` to stop early.
    """

    def __call__(self, iteration: int, x: Tensor) -> bool | None: ...


def shared_docstring(function: Callable) -> Callable:
    """Fill the ``{loop_parameters}`` / ``{start_parameter}`` slots of a solver's docstring."""
    text = function.__doc__ or ""
    for key, section in _SHARED_SECTIONS.items():
        text = text.replace("{" + key + "}", textwrap.indent(section, "    ").lstrip())
    function.__doc__ = text
    return function


def check_sinogram(y: Tensor, operator: LinearOperator, iterations: int | None = None) -> Tensor:
    """``y`` if it is a finite float32 batch ``(B, C, *operator.range_shape)``; else a clear error.

    ``iterations``, when given, must be a non-negative integer. Negative
    values are accepted: noisy post-log data have some.

    Raises
    ------
    TypeError
        Not a tensor, or not float32.
    ValueError
        Another shape, or NaN / inf values (the message counts them and names
        the index of the first, see :func:`recon.checks.check_finite`).
    """
    if iterations is not None:
        check_iterations(iterations)
    expected = f"(B, C, {', '.join(map(str, operator.range_shape))})"
    if not isinstance(y, Tensor):
        raise TypeError(f"sinogram: expected a torch.Tensor of shape {expected}, got {type(y).__name__}")
    if y.dim() != len(operator.range_shape) + 2 or tuple(y.shape[2:]) != tuple(operator.range_shape):
        raise ValueError(
            f"sinogram: expected shape {expected} for this operator, got {tuple(y.shape)}"
        )
    if y.dtype != torch.float32:
        raise TypeError(f"sinogram: expected dtype torch.float32, got {y.dtype}")
    check_finite(y, "sinogram")
    return y


def check_iterations(iterations: int) -> int:
    """``iterations`` if it is a non-negative integer; else a clear error."""
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"iterations: expected a non-negative integer, got {iterations!r}")
    return iterations


def initial_image(y: Tensor, operator: LinearOperator, x0: Tensor | None) -> Tensor:
    """The starting iterate: a copy of ``x0`` checked against ``y``, or zeros.

    Returns a float32 tensor ``(B, C, *operator.domain_shape)`` on ``y``'s device.
    """
    shape = (*y.shape[:2], *operator.domain_shape)
    if x0 is None:
        return torch.zeros(shape, dtype=torch.float32, device=y.device)
    if not isinstance(x0, Tensor) or tuple(x0.shape) != shape:
        got = tuple(x0.shape) if isinstance(x0, Tensor) else type(x0).__name__
        raise ValueError(f"x0: expected a tensor of shape {shape} matching the sinogram, got {got}")
    check_finite(x0, "x0")
    return x0.detach().to(y.device, torch.float32).clone()


def iterate(
    step: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    iterations: int,
    callback: Callback | None = None,
    tol: float = 0.0,
) -> Tensor:
    """Apply ``x <- step(x)`` up to ``iterations`` times.

    Parameters
    ----------
    step : callable
        One iteration of a solver: current iterate -> next iterate. It may
        keep further state (residuals, dual variables) in a closure.
    x : Tensor, shape (B, C, H, W)
        Starting iterate.
    iterations : int
        Maximum number of iterations, ``>= 0``.
    callback : Callback, optional
        Called after each iteration; returning ``True`` stops.
    tol : float
        Stop once ``||x_k - x_{k-1}|| <= tol * ||x_k||`` holds for every
        image of the batch. ``0`` never stops early.

    Returns
    -------
    Tensor, shape (B, C, H, W)
        The last iterate.
    """
    check_iterations(iterations)
    check_parameter("tol", tol)
    for k in range(1, iterations + 1):
        previous, x = x, step(x)
        if callback is not None and callback(k, x):
            break
        if tol > 0:
            change = torch.linalg.vector_norm((x - previous).flatten(2), dim=2)
            if bool(torch.all(change <= tol * torch.linalg.vector_norm(x.flatten(2), dim=2))):
                break
    return x
