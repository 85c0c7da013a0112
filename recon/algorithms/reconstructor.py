"""Reconstruction methods with their parameters bound, and parameter selection."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import torch
from torch import Tensor

from recon.algorithms.cgls import cgls
from recon.algorithms.common import PARAMETER_BOUNDS, check_iterations
from recon.algorithms.fbp import fbp
from recon.algorithms.landweber import landweber
from recon.algorithms.sirt import sirt
from recon.algorithms.tv import tv
from recon.checks import check_number
from recon.metrics import psnr
from recon.operators import LinearOperator

__all__ = ["METHODS", "MethodName", "ParameterSearch", "BoundMethod", "select_parameter"]

MethodName = Literal["fbp", "sirt", "cgls", "landweber", "tv"]

#: The classical methods by name: ``method(y, A, **params) -> x``.
METHODS: Mapping[str, Callable[..., Tensor]] = MappingProxyType(
    {"fbp": fbp, "sirt": sirt, "cgls": cgls, "landweber": landweber, "tv": tv}
)


@dataclass(frozen=True)
class BoundMethod:
    """A classical method bound to an operator and parameters: ``x = r(y)``, a :class:`recon.Reconstructor`.

    Parameters
    ----------
    method : {"fbp", "sirt", "cgls", "landweber", "tv"}
        Name in :data:`METHODS`.
    operator : LinearOperator
        The ray transform of the data.
    params : mapping
        Keyword arguments of the method (``iterations``, ``weight``,
        ``filter`` ...); their names are checked against its signature and
        their values against its annotations and ranges (a number for
        ``weight``, one of the filters for ``filter`` ...) when bound, not
        at the first call.
    name : str, optional
        Label for tables; default the method name.

    Examples
    --------
    >>> import recon
    >>> A = recon.RayTransform(recon.Geometry.parallel(image_size=32, num_angles=20, num_detectors=45))
    >>> r = BoundMethod("tv", A, {"weight": 4e-4, "iterations": 50})
    >>> r.name, dict(r.params)
    ('tv', {'weight': 0.0004, 'iterations': 50})
    """

    method: MethodName
    operator: LinearOperator
    params: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method: expected one of {tuple(METHODS)}, got {self.method!r}")
        accepted = list(inspect.signature(METHODS[self.method]).parameters)[2:]
        unknown = sorted(set(self.params) - set(accepted))
        if unknown:
            raise ValueError(f"{self.method} takes the parameters {accepted}, got unknown {unknown}")
        for key, value in self.params.items():
            _check_value(self.method, key, value)
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "name", self.name or self.method)

    @property
    def geometry(self):
        """The operator's :class:`~recon.Geometry` (what :class:`recon.Reconstructor` asks for)."""
        return self.operator.geometry

    def __call__(self, y: Tensor, **overrides: Any) -> Tensor:
        """Reconstruct ``y`` (B, C, A, D) -> (B, C, H, W); ``overrides`` replace bound parameters."""
        return METHODS[self.method](y, self.operator, **{**self.params, **overrides})

    def with_params(self, **changes: Any) -> BoundMethod:
        """A copy with some parameters changed."""
        return BoundMethod(self.method, self.operator, {**self.params, **changes}, self.name)


def _check_value(method: str, key: str, value: Any) -> None:
    """Refuse a parameter value of the wrong kind or range before the method runs.

    The kind comes from the method's annotation (a choice of strings, a flag,
    an integer or a number), the range of numbers from
    :data:`~recon.algorithms.common.PARAMETER_BOUNDS`; other parameters
    (tensors, callbacks) are left to the method.

    Raises
    ------
    ValueError
        ``"<method>: <key>: expected <kind>, got <value>"``.
    """
    hint = typing.get_type_hints(METHODS[method]).get(key)
    kinds = set(typing.get_args(hint)) if typing.get_origin(hint) in (typing.Union, types.UnionType) else {hint}
    kinds.discard(type(None))
    choices = [choice for kind in kinds if typing.get_origin(kind) is Literal for choice in typing.get_args(kind)]
    try:
        if key == "iterations":
            check_iterations(value)
        elif choices and value not in choices:
            raise ValueError(f"expected one of {tuple(choices)}, got {value!r}")
        elif kinds == {bool} and not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        elif kinds & {int, float}:
            check_number(key, value, **PARAMETER_BOUNDS.get(key, {}))
    except ValueError as error:
        problem = str(error).removeprefix(f"{key}: ")
        raise ValueError(f"{method}: {key}: {problem}") from None


@dataclass(frozen=True)
class ParameterSearch:
    """Result of :func:`select_parameter`.

    Attributes
    ----------
    parameter : str
        The searched parameter.
    best : Any
        The value with the highest mean score.
    table : list of (value, mean score)
        Every tried value, in the order given.
    """

    parameter: str
    best: Any
    table: list[tuple[Any, float]]

    @property
    def best_score(self) -> float:
        return max(score for _, score in self.table)


def select_parameter(
    reconstructor: BoundMethod,
    y: Tensor,
    ground_truth: Tensor,
    *,
    parameter: str,
    values: Sequence[Any],
    metric: Callable[[Tensor, Tensor], Tensor] = psnr,
    batch_size: int = 8,
) -> ParameterSearch:
    """Grid-search one parameter of a reconstructor on a validation set.

    Parameters
    ----------
    reconstructor : BoundMethod
        The method and its other parameters.
    y : Tensor, shape (N, C, A, D)
        Validation sinograms.
    ground_truth : Tensor, shape (N, C, H, W)
        Their images.
    parameter : str
        Name of the parameter, e.g. ``"weight"`` for TV. For
        ``"iterations"`` of an iterative method one run to the largest
        value scores all the others on the way (through the callback).
    values : sequence
        Values to try.
    metric : callable
        ``metric(x, gt) -> (B, C)`` scores, higher is better; default PSNR
        with LoDoPaB's data range.
    batch_size : int
        Images reconstructed at once.

    Returns
    -------
    ParameterSearch
        The best value and the table of mean scores.
    """
    if not values:
        raise ValueError("values: expected at least one value to try, got none")
    if y.shape[0] != ground_truth.shape[0]:
        raise ValueError(
            f"y and ground_truth: expected the same number of samples, got {y.shape[0]} "
            f"and {ground_truth.shape[0]}"
        )
    reconstructor.with_params(**{parameter: values[0]})  # validates the name
    totals = torch.zeros(len(values), dtype=torch.float64)
    for start in range(0, y.shape[0], batch_size):
        part, truth = y[start:start + batch_size], ground_truth[start:start + batch_size]
        totals += _scores(reconstructor, part, truth, parameter, list(values), metric)
    means = (totals / y.shape[0]).tolist()
    table = list(zip(values, means))
    best = values[max(range(len(values)), key=means.__getitem__)]
    return ParameterSearch(parameter=parameter, best=best, table=table)


def _scores(reconstructor: BoundMethod, y: Tensor, truth: Tensor, parameter: str,
            values: list[Any], metric: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """Summed metric of one batch for every value, shape (len(values),)."""
    def total(x: Tensor) -> float:
        return float(metric(x, truth).sum())

    if parameter == "iterations" and reconstructor.method != "fbp":
        found: dict[int, float] = {}
        if 0 in values:
            found[0] = total(reconstructor(y, iterations=0))

        def record(iteration: int, x: Tensor) -> None:
            if iteration in values:
                found[iteration] = total(x)

        reconstructor(y, iterations=max(values), callback=record, tol=0.0)
        return torch.tensor([found[v] for v in values], dtype=torch.float64)
    return torch.tensor([total(reconstructor(y, **{parameter: v})) for v in values],
                        dtype=torch.float64)
