"""Every method on a CUDA tensor gives the CPU result (skipped without a GPU)."""

from __future__ import annotations

import pytest

from recon.algorithms import METHODS, BoundMethod
from recon.metrics import psnr
from tests.conftest import cuda_usable


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_usable(), reason="needs a CUDA GPU and a CUDA-enabled astra-toolbox")
@pytest.mark.parametrize("method", sorted(METHODS))
def test_method_runs_on_cuda(low_dose, method):
    A, truth, y = low_dose
    # CGLS semi-converges on these noisy data after about 5 iterations; later iterates amplify
    # the small difference between ASTRA's CPU and CUDA projectors (H100: CPU and CUDA iterates
    # differ by 0.6 % after 1 iteration, 3 % after 5, 9 % after 10, 20 % after 20).
    iterations = 5 if method == "cgls" else 10
    reconstructor = BoundMethod(method, A, {} if method == "fbp" else {"iterations": iterations})
    on_cpu = reconstructor(y)
    on_gpu = reconstructor(y.cuda())
    assert on_gpu.device.type == "cuda" and on_gpu.shape == on_cpu.shape
    # ASTRA's CUDA projector pair differs from the CPU one by about 1 %.
    assert float((on_gpu.cpu() - on_cpu).norm() / on_cpu.norm()) < 0.05
    assert float(psnr(on_gpu.cpu(), truth).mean()) > float(psnr(on_cpu, truth).mean()) - 0.5
