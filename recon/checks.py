"""Checks of values at recon's edges: finite data and numeric parameters in range.

Every reader, solver and command refuses non-finite data and meaningless
parameters through these two functions, so the messages read alike:
``"<what>: expected <x>, got <y>"``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import Tensor

__all__ = ["check_finite", "check_number"]


def check_finite(values: Tensor | np.ndarray, what: str, *, first_index: int = 0) -> None:
    """Raise ``ValueError`` if ``values`` hold NaN or infinity.

    The check is one ``torch.isfinite`` reduction; only when it fails are the
    bad values counted and the first located.

    Parameters
    ----------
    values : Tensor or numpy.ndarray, any shape
        Floating-point data (sinograms, images).
    what : str
        Names the data in the message, e.g. ``"sinogram"`` or
        ``"train.h5: dataset 'images', sample 3"``.
    first_index : int
        Index of ``values[0]`` in a larger array (a batch's first sample):
        added to the first coordinate of the reported position.

    Raises
    ------
    ValueError
        Naming the count of non-finite values, the total and the index of the
        first, e.g. ``"sinogram: expected finite values, got 3 NaN or inf of
        1600, the first at index (1, 0, 4, 7)"``.

    Examples
    --------
    >>> check_finite(torch.tensor([1.0, float("nan")]), "x")
    Traceback (most recent call last):
    ...
    ValueError: x: expected finite values, got 1 NaN or inf of 2, the first at index (1,)
    """
    tensor = torch.as_tensor(values)
    if not tensor.is_floating_point() or bool(torch.isfinite(tensor).all()):
        return
    bad = ~torch.isfinite(tensor)
    position = [int(i) for i in torch.nonzero(bad)[0]]
    if position:
        position[0] += first_index
    raise ValueError(f"{what}: expected finite values, got {int(bad.sum())} NaN or inf of {tensor.numel()}, "
                     f"the first at index {tuple(position)}")


def _bounds_text(at_least: float | None, above: float | None, below: float | None,
                 at_most: float | None) -> str:
    parts = [f"{sign} {bound:g}" for sign, bound in ((">=", at_least), (">", above), ("<", below),
                                                    ("<=", at_most)) if bound is not None]
    return " and ".join(parts)


def check_number(name: str, value: object, *, at_least: float | None = None, above: float | None = None,
                 below: float | None = None, at_most: float | None = None) -> float:
    """``value`` as a float if it is a finite real number within the bounds; else ``ValueError``.

    Parameters
    ----------
    name : str
        The parameter, named in the message (``"weight"``, ``"--photons"`` ...).
    value : object
        What was given; ``bool`` and strings are refused.
    at_least, above, below, at_most : float, optional
        Bounds: ``value >= at_least``, ``> above``, ``< below``, ``<= at_most``.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        E.g. ``"weight: expected a finite number >= 0, got 'abc'"``.

    Examples
    --------
    >>> check_number("relaxation", 1, above=0, below=2)
    1.0
    """
    bounds = _bounds_text(at_least, above, below, at_most)
    expected = "a finite number" + (f" {bounds}" if bounds else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    number = float(value)
    inside = (math.isfinite(number)
              and (at_least is None or number >= at_least) and (above is None or number > above)
              and (below is None or number < below) and (at_most is None or number <= at_most))
    if not inside:
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return number
