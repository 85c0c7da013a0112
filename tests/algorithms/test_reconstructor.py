"""BoundMethod objects and parameter selection."""

from __future__ import annotations

import pytest
import torch

from recon.algorithms import METHODS, BoundMethod, cgls, select_parameter, tv
from recon.metrics import psnr


def test_reconstructor_binds_parameters(low_dose):
    A, _, y = low_dose
    r = BoundMethod("cgls", A, {"iterations": 3}, name="CGLS-3")
    assert r.name == "CGLS-3" and dict(r.params) == {"iterations": 3}
    torch.testing.assert_close(r(y), cgls(y, A, iterations=3))
    torch.testing.assert_close(r.with_params(iterations=5)(y), cgls(y, A, iterations=5))
    assert BoundMethod("fbp", A).name == "fbp"
    assert sorted(METHODS) == ["cgls", "fbp", "landweber", "sirt", "tv"]


def test_reconstructor_rejects_unknown_names(low_dose):
    A, _, _ = low_dose
    with pytest.raises(ValueError, match=r"method: expected one of .*got 'art'"):
        BoundMethod("art", A)
    with pytest.raises(ValueError, match=r"unknown \['lam'\]"):
        BoundMethod("tv", A, {"lam": 0.1})


def test_select_weight_finds_the_interior_optimum(low_dose):
    A, truth, y = low_dose
    truth, y = truth[:2], y[:2]
    values = [2e-5, 5e-4, 1e-2]
    search = select_parameter(BoundMethod("tv", A, {"iterations": 40, "data_term": "ls"}), y, truth,
                              parameter="weight", values=values, batch_size=1)
    assert search.best == 5e-4
    assert [value for value, _ in search.table] == values
    expected = float(psnr(tv(y, A, weight=5e-4, iterations=40, data_term="ls"), truth).mean())
    assert search.best_score == pytest.approx(expected, abs=1e-4)


def test_iteration_search_scores_every_count_in_one_run(low_dose):
    A, truth, y = low_dose
    truth, y = truth[:2], y[:2]
    search = select_parameter(BoundMethod("cgls", A), y, truth,
                              parameter="iterations", values=[0, 2, 5, 40])
    for value, score in search.table:
        assert score == pytest.approx(float(psnr(cgls(y, A, iterations=value), truth).mean()),
                                      abs=1e-4)
    assert search.best in (5, 40) and search.best == max(search.table, key=lambda r: r[1])[0]
    with pytest.raises(ValueError, match="at least one value"):
        select_parameter(BoundMethod("cgls", A), y, truth, parameter="iterations", values=[])
