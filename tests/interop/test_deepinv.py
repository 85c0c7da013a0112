"""recon operators as DeepInverse physics and back (recon.interop.deepinv).

The physics checks follow DeepInverse 0.5's own ``tests/test_physics.py`` for a
linear physics (adjointness, norm, pseudo-inverse, autograd and torch.func,
clone, state dict, devices), run on recon's physics; deepinv's solvers and
noise models are the references. Skipped where deepinv does not import.
"""

from __future__ import annotations

import copy

import pytest
import torch

import recon
from recon.algorithms import tv
from recon.algorithms.tv import gradient
from recon.data.phantoms import shepp_logan
from recon.operators import check_operator
from recon.physics import simulate

try:
    from recon.interop.deepinv import ReconLogPoissonNoise, ReconPhysics, deepinv, from_physics, to_physics
except ImportError as error:  # deepinv missing, or an install that does not import
    pytest.skip(str(error), allow_module_level=True)

from deepinv.physics.forward import adjoint_function  # noqa: E402 - after the skip

PARALLEL = recon.Geometry.parallel(image_size=16, num_angles=12, num_detectors=23)
FAN = recon.Geometry.fan(image_size=16, num_angles=14, num_detectors=29)
#: The recon physics every generic check runs over: (geometry, CPU backend).
OPERATORS = {"parallel-threads": (PARALLEL, "threads"), "parallel-sparse": (PARALLEL, "sparse"),
             "fan-threads": (FAN, "threads")}


def make_physics(name: str, **options) -> ReconPhysics:
    geometry, backend = OPERATORS[name]
    return to_physics(recon.RayTransform(geometry, cpu_backend=backend), **options)


def image(physics: ReconPhysics, batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand((batch, 1, *physics.operator.domain_shape), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", OPERATORS)
def test_adjointness_and_the_automatic_adjoint(name):
    physics = make_physics(name)
    x = image(physics)
    assert float(physics.adjointness_test(x, num_samples=4).abs()) < 1e-5  # deepinv asks < 1e-3
    y = physics.A(x)
    automatic = adjoint_function(physics.A, x.shape, x.device, x.dtype)  # torch.func.vjp of A
    torch.testing.assert_close(automatic(y), physics.A_adjoint(y), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", OPERATORS)
def test_norms_are_recons_and_agree_with_deepinvs_power_method(name):
    physics = make_physics(name)
    x = image(physics)  # (1, C, H, W), as deepinv's test passes it
    squared = physics.compute_sqnorm(x)
    assert float(squared) == pytest.approx(physics.operator.norm() ** 2, rel=1e-12)
    torch.testing.assert_close(physics.compute_norm(x, squared=False), squared.sqrt())
    theirs = deepinv.physics.forward.power_method(physics.A_adjoint_A, x, max_iter=2000, tol=1e-9, verbose=False)
    assert float(squared) == pytest.approx(float(theirs), rel=1e-4)


@pytest.mark.parametrize("implicit_backward_solver", [True, False])
@pytest.mark.parametrize("name", OPERATORS)
def test_pseudo_inverse(name, implicit_backward_solver):
    physics = make_physics(name)
    physics.implicit_backward_solver = implicit_backward_solver
    r = physics.A_adjoint(physics.A(image(physics)))  # in the range of A^T, as deepinv's test
    estimate = physics.A_dagger(physics.A(r), solver="lsqr", tol=1e-4, max_iter=50)
    assert float(torch.linalg.vector_norm(estimate - r) / torch.linalg.vector_norm(r)) < 0.05


@pytest.mark.parametrize("name", OPERATORS)
def test_torch_func_gradient_of_a_data_fidelity_is_deepinvs_gradient(name):
    physics = make_physics(name)
    x, loss = image(physics), deepinv.optim.L2()
    target = torch.ones_like(physics.A(x))
    by_func = torch.func.grad(lambda z: loss(z, target, physics)[0])(x)
    torch.testing.assert_close(by_func, loss.grad(x, target, physics), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", OPERATORS)
def test_autograd_through_the_automatic_adjoint_gives_the_forward(name):
    physics = make_physics(name)
    x = image(physics)
    y = physics.A(x).requires_grad_(True)
    z = image(physics, seed=1)
    (z * adjoint_function(physics.A, x.shape, x.device, x.dtype)(y)).sum().backward()
    torch.testing.assert_close(y.grad, physics.A(z), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", OPERATORS)
def test_differentiable_and_torch_func_transforms_match_the_explicit_operators(name):
    physics = make_physics(name)
    x, tangent = image(physics, batch=3), image(physics, batch=3, seed=1)
    x_hat = torch.zeros_like(x).requires_grad_(True)
    torch.nn.functional.mse_loss(physics.A(x_hat), physics.A(x)).backward()
    assert x_hat.grad is not None and bool(torch.isfinite(x_hat.grad).all())
    _, jvp = torch.func.jvp(physics.A, (x,), (tangent,))
    torch.testing.assert_close(jvp, physics.A(tangent))
    torch.testing.assert_close(torch.func.vmap(physics.A)(x[:, None]), physics.A(x)[:, None])


@pytest.mark.parametrize("name", OPERATORS)
def test_clone_after_the_backend_ran_copies_parameters_buffers_and_rng(name):
    physics = make_physics(name, noise="log-poisson", rng=torch.Generator().manual_seed(5))
    x = image(physics)
    expected = physics.A(x)  # the backend (ASTRA projector or sparse matrix) now exists
    physics.register_parameter("dummy", torch.nn.Parameter(torch.randn(3)))
    clone = physics.clone()
    assert type(clone) is ReconPhysics and clone.operator is not physics.operator
    assert clone.dummy.data_ptr() != physics.dummy.data_ptr()
    with torch.no_grad():
        physics.dummy.fill_(0)
        clone.dummy.fill_(1)
    assert not torch.equal(physics.dummy, clone.dummy)
    assert torch.equal(clone.noise_model.rng.get_state(), physics.noise_model.rng.get_state())
    torch.testing.assert_close(clone.A(x), expected, rtol=0, atol=0)
    assert torch.equal(clone(x), physics(x))  # same generator state, same noise
    torch.testing.assert_close(copy.deepcopy(physics).A(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", OPERATORS)
def test_state_dict_round_trip(name):
    physics = make_physics(name, noise="log-poisson", rng=torch.Generator().manual_seed(0))
    fresh = make_physics(name, noise="log-poisson", rng=torch.Generator().manual_seed(0))
    fresh.load_state_dict(physics.state_dict())
    x = image(physics)
    assert torch.equal(fresh(x, seed=2), physics(x, seed=2))


def test_device_consistency(device):
    physics = make_physics("parallel-threads")
    x = image(physics, batch=2)
    cpu = physics.A(x)
    assert cpu.device == torch.device("cpu")
    moved = physics.to(device)
    y = moved.A(x.to(device))
    assert y.device.type == device.type
    # ASTRA's CUDA projector is float32-fast, not bit-equal to the CPU one (check_operator's device tolerance)
    assert float(torch.linalg.vector_norm(y.cpu() - cpu) / torch.linalg.vector_norm(cpu)) < 2e-2


# ------------------------------------------------------------------ noise models
def test_log_poisson_is_recons_simulate_without_the_finer_grid():
    A = recon.RayTransform(PARALLEL)
    x = torch.from_numpy(shepp_logan(16))[None, None].repeat(2, 1, 1, 1)
    physics = to_physics(A, noise="log-poisson", photons=1000, rng=torch.Generator().manual_seed(0))
    expected = simulate(x, A, 1000, seed=torch.Generator().manual_seed(3), factor=1)
    assert torch.equal(physics(x, seed=3), expected)


def test_log_poisson_matches_deepinvs_where_counts_are_positive_and_floors_zero_counts():
    A = recon.RayTransform(PARALLEL)
    z = torch.rand((2, 1, *A.range_shape), generator=torch.Generator().manual_seed(1)) * 0.05
    ours = ReconLogPoissonNoise(4096, rng=torch.Generator().manual_seed(7))(z)
    theirs = deepinv.physics.LogPoissonNoise(N0=4096.0, mu=recon.physics.MU_MAX,
                                            rng=torch.Generator().manual_seed(7))(z)
    assert bool(torch.isfinite(theirs).all())  # 4096 photons through at most 4 /m x 5 cm: no zero count
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)
    opaque = ReconLogPoissonNoise(10, rng=torch.Generator().manual_seed(0))(torch.full((1, 1, 4, 4), 1.0))
    assert torch.allclose(opaque, torch.full_like(opaque, float(torch.log(torch.tensor(100.0))) / recon.physics.MU_MAX))


def test_poisson_counts_the_line_integrals_with_gain_one_over_photons():
    A = recon.RayTransform(PARALLEL)
    x = torch.from_numpy(shepp_logan(16))[None, None]
    physics = to_physics(A, noise="poisson", photons=500, rng=torch.Generator().manual_seed(0))
    draws = torch.cat([physics(x) for _ in range(400)])
    counts = draws * 500
    torch.testing.assert_close(counts, counts.round(), rtol=0, atol=1e-3)
    clean = A(x)
    standard_error = (clean / 500 / 400).sqrt().clamp_min(1e-6)
    assert float(((draws.mean(0, keepdim=True) - clean).abs() / standard_error).max()) < 5.5


def test_no_noise_is_the_operator():
    A = recon.RayTransform(PARALLEL)
    physics = to_physics(A)
    x = image(physics)
    assert torch.equal(physics(x), A(x))


def test_bad_arguments_are_named():
    A = recon.RayTransform(PARALLEL)
    with pytest.raises(ValueError, match=r"noise: expected one of \(None, 'poisson', 'log-poisson'\), got 'gauss'"):
        to_physics(A, noise="gauss")
    with pytest.raises(ValueError, match="photons"):
        to_physics(A, noise="log-poisson", photons=0)
    with pytest.raises(TypeError, match="expected a recon LinearOperator.*got function"):
        to_physics(lambda x: x)
    with pytest.raises(TypeError, match="expected a deepinv LinearPhysics .*got Physics"):
        from_physics(deepinv.physics.Physics(A=lambda x: x ** 2))
    with pytest.raises(ValueError, match=r"domain_shape: expected the image shape.*LinearPhysics has no img_size"):
        from_physics(deepinv.physics.LinearPhysics(A=A, A_adjoint=A.adjoint))


# ------------------------------------------------------------------ deepinv -> recon
def test_from_physics_passes_recons_operator_check():
    A = recon.RayTransform(PARALLEL)
    generic = deepinv.physics.LinearPhysics(A=A, A_adjoint=A.adjoint)  # deepinv's own class around recon's calls
    operator = from_physics(generic, A.domain_shape)
    assert operator.range_shape == A.range_shape
    assert check_operator(operator, device=None).failures() == []
    assert check_operator(from_physics(to_physics(A)), device=None).failures() == []


def test_a_deepinv_blur_is_a_recon_operator():
    blur = deepinv.physics.BlurFFT(img_size=(1, 16, 16), filter=deepinv.physics.functional.blur.gaussian_blur(sigma=1.0))
    operator = from_physics(blur)
    assert operator.domain_shape == operator.range_shape == (16, 16)
    # the blur's singular values crowd near its norm: recon's default power iteration stops at ~1e-5 there
    assert check_operator(operator, device=None).failures(tolerance=1e-4) == []


# ------------------------------------------------------------------ a deepinv solver on recon physics
def test_deepinv_pgd_with_a_tv_prior_reaches_recons_tv_minimiser():
    """Both minimise 1/2 ||A x - y||^2 + lambda sum_p |grad x|_p (forward differences, no constraint)."""
    A = recon.RayTransform(recon.Geometry.parallel(image_size=16, num_angles=20, num_detectors=23))
    x = torch.from_numpy(shepp_logan(16))[None, None]
    y = A(x) + 0.002 * torch.randn((1, 1, *A.range_shape), generator=torch.Generator().manual_seed(0))
    weight = 1e-4
    ours = tv(y, A, weight=weight, iterations=2000, data_term="ls", nonnegativity=False, x0=torch.zeros_like(x))
    solver = deepinv.optim.PGD(prior=deepinv.optim.TVPrior(n_it_max=50), data_fidelity=deepinv.optim.L2(),
                               lambda_reg=weight, stepsize=1 / A.norm() ** 2, max_iter=500)
    with torch.no_grad():
        theirs = solver(y, to_physics(A))

    def objective(z: torch.Tensor) -> float:
        return float(0.5 * ((A(z) - y) ** 2).sum() + weight * torch.linalg.vector_norm(gradient(z), dim=2).sum())

    assert objective(ours) == pytest.approx(objective(theirs), rel=1e-4)
    assert objective(ours) <= objective(theirs) * (1 + 1e-6)
    assert float(torch.linalg.vector_norm(ours - theirs) / torch.linalg.vector_norm(theirs)) < 1e-2
