"""recon.operators.check_operator: it passes exact operators and catches each kind of defect."""

from __future__ import annotations

import pytest
import torch

from recon import Geometry, RayTransform
from recon.operators import AdjointOperator, LinearOperator, check_operator

GEOMETRY = Geometry.parallel(image_size=(9, 7), num_angles=5, num_detectors=13)


class Wrapped(LinearOperator):
    """A RayTransform with one defect switched on."""

    def __init__(self, defect: str | None = None) -> None:
        super().__init__()
        self.inner = RayTransform(GEOMETRY)
        self.defect = defect
        self.domain_shape, self.range_shape = self.inner.domain_shape, self.inner.range_shape

    def forward(self, x):
        y = self.inner(x)
        if self.defect == "affine":
            y = y + 1.0
        if self.defect == "mixes-batch":
            y = y + 0.5 * y.mean(dim=0, keepdim=True)
        return y

    def adjoint(self, y):
        x = self.inner.adjoint(y)
        return 1.01 * x if self.defect == "scaled-adjoint" else x

    def norm(self, **kwargs):
        return 1.1 * self.inner.norm(**kwargs) if self.defect == "wrong-norm" else self.inner.norm(**kwargs)


def test_exact_operators_pass_and_the_report_prints_every_number():
    for operator in (Wrapped(), AdjointOperator(RayTransform(GEOMETRY)), RayTransform(GEOMETRY, cpu_backend="sparse")):
        report = check_operator(operator, device=None)
        assert report.failures() == [], str(report)
    text = str(check_operator(Wrapped(), device=None))
    assert "adjointness" in text and "batch_invariance" in text and "n/a" in text  # device skipped


@pytest.mark.parametrize("defect, failing", [
    ("affine", {"linearity"}),
    ("scaled-adjoint", {"adjointness", "gradient"}),
    ("wrong-norm", {"norm"}),
    ("mixes-batch", {"batch_invariance"}),
])
def test_each_defect_is_caught(defect, failing):
    failures = check_operator(Wrapped(defect), device=None).failures()
    assert failing <= {line.split(":")[0] for line in failures}, failures


def test_a_single_image_batch_is_refused():
    with pytest.raises(ValueError, match="batch: expected at least 2 images"):
        check_operator(Wrapped(), batch=1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_device_check_runs_where_cuda_is_usable():
    report = check_operator(RayTransform(GEOMETRY, cuda_backend="sparse"))
    assert report.device is not None and report.failures() == []
