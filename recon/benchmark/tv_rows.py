"""The three TV rows of a protocol: TV's defaults, TV tuned on validation images, and the TV oracle.

* ``TV (default)``: :func:`recon.tv` with no weight and its default data term
  (whatever recon's default is: the weight may come from the data);
* ``TV tuned on validation (term, weight)``: the ``(data_term, weight)`` of the
  protocol's :class:`~recon.benchmark.protocol.TvGrid` with the best mean
  PSNR on the *validation* images at the dose;
* ``TV oracle (term, weight)``: the same search on the *test* images
  themselves. No tuning can do better on these images, so the oracle is a
  stricter rival than TV could be in use; it is not a method.

Each search is :func:`recon.algorithms.select_parameter` over the weights,
once per data term.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from recon.algorithms import BoundMethod, select_parameter
from recon.benchmark.methods import Method, build_method
from recon.benchmark.protocol import TV_DEFAULT, TV_ORACLE, TV_VALIDATED, TvGrid
from recon.operators import RayTransform

__all__ = ["TvSearch", "search_tv", "tv_methods"]

#: Images per TV call of a search: the sparse products of a larger batch cost less per image
#: (measured on 2 CPU cores: 17 ms per image-iteration at 32 against 25 at 8).
SEARCH_BATCH = 32


@dataclass(frozen=True, kw_only=True)
class TvSearch:
    """The best ``(data_term, weight)`` of a grid on some images, and every score.

    Attributes
    ----------
    data_term : str
    weight : float
    psnr : float
        Its mean PSNR on the searched images, dB.
    table : list of dict
        ``{"data_term", "weight", "psnr"}`` for every candidate, in grid order.
    at_edge : bool
        The weight is the smallest or largest of its data term's grid (the best may lie beyond).
    """

    data_term: str
    weight: float
    psnr: float
    table: list[dict[str, Any]]
    at_edge: bool

    def to_dict(self) -> dict[str, Any]:
        """The attributes as JSON values."""
        return dataclasses.asdict(self)


def search_tv(grid: TvGrid, operator: RayTransform, y: Tensor, truth: Tensor) -> TvSearch:
    """Grid search of TV's data term and weight by mean PSNR.

    Parameters
    ----------
    grid : TvGrid
    operator : RayTransform
        Ray transform of ``y``.
    y : Tensor, shape (N, 1, A, D)
        Post-log sinograms.
    truth : Tensor, shape (N, 1, nx, ny)
        Their ground truths.
    """
    table, best = [], None
    for term, weights in grid.candidates():
        search = select_parameter(BoundMethod("tv", operator, {"data_term": term, "iterations": grid.iterations}),
                                  y, truth, parameter="weight", values=list(weights), batch_size=SEARCH_BATCH)
        table += [{"data_term": term, "weight": weight, "psnr": score} for weight, score in search.table]
        if best is None or search.best_score > best.psnr:
            best = TvSearch(data_term=term, weight=search.best, psnr=search.best_score, table=[],
                            at_edge=search.best in (weights[0], weights[-1]))
    return dataclasses.replace(best, table=table)


def _row(spec: str, label: str, operator: RayTransform) -> Method:
    return dataclasses.replace(build_method(spec, operator.geometry, operator=operator), name=label)


def tv_methods(grid: TvGrid, operator: RayTransform, validated: TvSearch, oracle: TvSearch) -> dict[str, Method]:
    """The three TV rows as benchmark methods, by rival name (:data:`~recon.benchmark.protocol.TV_ROWS`).

    Every row runs ``grid.iterations`` PDHG iterations; the tuned and oracle
    rows are labelled with their choice, e.g. ``"TV oracle (wls, 1e-06)"``.
    """
    def chosen(search: TvSearch) -> str:
        return f"tv:data_term={search.data_term},weight={search.weight!r},iterations={grid.iterations}"

    return {
        TV_DEFAULT: _row(f"tv:iterations={grid.iterations}", "TV (default)", operator),
        TV_VALIDATED: _row(chosen(validated), f"TV tuned on validation ({validated.data_term}, {validated.weight:g})",
                           operator),
        TV_ORACLE: _row(chosen(oracle), f"TV oracle ({oracle.data_term}, {oracle.weight:g})", operator),
    }
