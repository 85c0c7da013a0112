"""benchmarks/models.py's measuring parts still fit recon (they broke once, unseen, when recon renamed a method)."""

from __future__ import annotations

import pytest
import torch

import recon
from benchmarks.models import Bfloat16Updates, OperatorClock, bfloat16_updates, counted_gflop, prepared_model

TINY = recon.Geometry.parallel(image_size=24, num_angles=12, num_detectors=35)


def test_the_operator_clock_sees_every_ray_transform_call():
    original = recon.RayTransform.apply_backend
    clock = OperatorClock()
    try:
        A = recon.RayTransform(TINY)
        A.adjoint(A(torch.ones(2, 1, 24, 24)))
        assert clock.seconds > 0
    finally:
        clock.uninstall()
    assert recon.RayTransform.apply_backend is original


def test_flops_are_counted_for_a_convolution():
    convolution = torch.nn.Conv2d(4, 8, 3, padding=1, bias=False)
    x = torch.ones(2, 4, 16, 16)
    assert counted_gflop(lambda: convolution(x)) == pytest.approx(2 * 2 * 8 * 16 * 16 * 4 * 9 / 1e9)


def test_bfloat16_updates_wrap_every_update_cnn_and_stay_close_to_float32():
    model = prepared_model("lpd", TINY, "threads", norm=float(recon.RayTransform(TINY).norm()))
    for block in list(model.primal_updates):  # non-zero last layers, so the updates do something
        torch.nn.init.normal_(list(block.parameters())[-2], std=0.05)
    y = recon.RayTransform(TINY)(torch.rand(1, 1, 24, 24))
    with torch.no_grad():
        reference = model(y)
        wrapped = bfloat16_updates(model)
        assert all(isinstance(block, Bfloat16Updates) for block in [*wrapped.primal_updates, *wrapped.dual_updates])
        mixed = wrapped(y)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, reference, atol=0.05 * float(reference.abs().max()), rtol=0)


def test_the_sparse_build_cases_report_stored_and_every_view():
    """benchmarks/operators.py's sparse table: the symmetric quarter against the matrix of every view."""
    from benchmarks.operators import case_sparse_build, case_sparse_build_every_view

    stored, every = case_sparse_build("128"), case_sparse_build_every_view("128")
    assert (stored["stored_views"], stored["views"]) == (90, 360)
    assert (every["stored_views"], every["views"]) == (360, 360)
    assert every["nnz"] == pytest.approx(4 * stored["nnz"], rel=0.01)
    assert stored["nbytes"] < every["nbytes"] / 3
