"""SIRT, CGLS and Landweber: agreement with ASTRA's own algorithms, convergence, options."""

from __future__ import annotations

import itertools

import pytest
import torch

import recon
from recon.algorithms import cgls, landweber, sirt
from recon.algorithms.astra_reference import astra_reference
from recon.data.phantoms import shepp_logan
from recon.metrics import psnr

SOLVERS = {"sirt": sirt, "cgls": cgls, "landweber": landweber}


@pytest.fixture(scope="module")
def noisy():
    """Shepp-Logan 41 x 33, 60 angles, 57 bins, 1 % Gaussian noise."""
    geometry = recon.Geometry.parallel(image_size=(41, 33), num_angles=60, num_detectors=57)
    A = recon.RayTransform(geometry)
    x = torch.from_numpy(shepp_logan((41, 33)))[None, None]
    y = A(x)
    y = y + 0.01 * y.max() * torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    return A, x, y


@pytest.mark.parametrize("name, iterations", [("SIRT", 40), ("CGLS", 15)])
def test_same_psnr_as_astra(noisy, name, iterations):
    A, x, y = noisy
    reference = torch.from_numpy(astra_reference(y[0, 0].numpy(), A.geometry, name,
                                                 iterations=iterations))[None, None]
    ours = SOLVERS[name.lower()](y, A, iterations=iterations)
    assert abs(float(psnr(ours, x)) - float(psnr(reference, x))) < 0.1
    # Much closer than that in fact: the same iteration to float32 rounding.
    assert float((ours - reference).norm() / reference.norm()) < 1e-3


def test_cgls_residuals_decrease_monotonically(noisy):
    A, _, y = noisy
    residuals = []
    cgls(y, A, iterations=25,
         callback=lambda k, x: residuals.append(float(torch.linalg.vector_norm(y - A(x)))))
    assert len(residuals) == 25
    assert all(b < a for a, b in itertools.pairwise(residuals))
    assert residuals[-1] < 0.05 * float(torch.linalg.vector_norm(y))


def test_landweber_approaches_the_least_squares_solution(noisy):
    A, x, y = noisy
    slow = landweber(y, A, iterations=20)
    fast = landweber(y, A, iterations=20, relaxation=1.9)
    assert float(psnr(fast, x)) > float(psnr(slow, x)) > float(psnr(torch.zeros_like(x), x)) + 5


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_batched_callback_early_stop_and_nonnegativity(noisy, name):
    A, _, y = noisy
    solver = SOLVERS[name]
    batch = torch.cat([y, 0.5 * y])
    together = solver(batch, A, iterations=4)
    torch.testing.assert_close(together[1:], solver(0.5 * y, A, iterations=4), rtol=1e-4, atol=1e-5)
    calls = []
    solver(y, A, iterations=50, callback=lambda k, x: calls.append(k) or k == 3)
    assert calls == [1, 2, 3]
    assert float(solver(y, A, iterations=30, nonnegativity=True).min()) >= 0
    assert float(solver(y, A, iterations=30).min()) < 0  # the constraint is active here
    steps = []
    solver(y, A, iterations=1000, tol=1e-2, callback=lambda k, x: steps.append(k))
    assert 1 < len(steps) < 1000


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_bad_inputs_raise_clear_errors(noisy, name):
    A, x, y = noisy
    solver = SOLVERS[name]
    with pytest.raises(ValueError, match="iterations: expected a non-negative integer, got -1"):
        solver(y, A, iterations=-1)
    with pytest.raises(ValueError, match=r"expected shape \(B, C, 60, 57\).*got \(60, 57\)"):
        solver(y[0, 0], A)
    with pytest.raises(ValueError, match=r"x0: expected a tensor of shape \(1, 1, 41, 33\)"):
        solver(y, A, x0=x[..., :30])
    torch.testing.assert_close(solver(y, A, iterations=0, x0=x), x)
