"""The operator battery for RayTransform: shapes, adjoint, autograd, batching, ODL, bad input."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch

from recon import Geometry, RayTransform, dot_test
from recon.data.phantoms import shepp_logan
from recon.operators import check_operator
from recon.operators.odl_geometry import geometry_to_odl
from tests.conftest import cuda_usable

PARALLEL = Geometry.parallel(image_size=(17, 11), num_angles=7, num_detectors=23)
FAN = Geometry.fan(image_size=(19, 13), num_angles=9, num_detectors=31)
# Square, centred grids: the sparse backend stores a quarter (parallel) or an eighth (fan) of the views.
SQUARE_PARALLEL = Geometry.parallel(image_size=12, num_angles=8, num_detectors=17)
SQUARE_FAN = Geometry.fan(image_size=12, num_angles=16, num_detectors=21)
GEOMETRIES = {"parallel": PARALLEL, "fan": FAN, "square-parallel": SQUARE_PARALLEL, "square-fan": SQUARE_FAN}
CPU_VARIANTS = [
    ("parallel", {}),
    ("parallel", {"projector": "line"}),
    ("parallel", {"projector": "strip"}),
    ("parallel", {"cpu_backend": "sparse"}),
    ("fan", {}),
    ("fan", {"cpu_backend": "sparse"}),
    ("square-parallel", {"cpu_backend": "sparse"}),
    ("square-fan", {"cpu_backend": "sparse"}),
]
DOT_TOLERANCE = {"cpu": 1e-5, "cuda": 1e-2}


def _id(variant):
    name, options = variant
    return "-".join([name, *map(str, options.values())])


@pytest.fixture(params=CPU_VARIANTS, ids=_id)
def operator(request) -> RayTransform:
    name, options = request.param
    return RayTransform(GEOMETRIES[name], **options)


def _random(shape, seed=0, device="cpu"):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)).to(device)


def test_shapes(operator):
    x = _random((3, 2, *operator.domain_shape))
    y = operator(x)
    assert y.shape == (3, 2, *operator.geometry.sinogram_shape)
    assert y.dtype == torch.float32
    assert operator.adjoint(y).shape == x.shape
    assert operator.T(y).shape == x.shape
    assert operator.T.T is operator


def test_check_operator_passes_on_every_cpu_backend_and_geometry_kind(operator):
    """Linearity, exact adjoint, adjoint of the adjoint, norm, autograd both ways, batch invariance."""
    report = check_operator(operator, device=None)
    assert report.failures() == [], str(report)
    assert report.adjointness <= 1e-5 and report.device is None


def test_projection_is_not_trivial(operator):
    """Guards the battery: a zero operator would pass the dot test."""
    x = _random((1, 1, *operator.domain_shape))
    assert operator(x).abs().sum() > 0
    assert operator.norm() > 0


def test_twice_differentiable(operator):
    """Gradient of a gradient: the Hessian-vector product of ||Ax||^2/2 is A^T A v."""
    x = _random((1, 1, *operator.domain_shape)).requires_grad_(True)
    v = _random((1, 1, *operator.domain_shape), seed=1)
    (gradient,) = torch.autograd.grad(0.5 * operator(x).pow(2).sum(), x, create_graph=True)
    (hvp,) = torch.autograd.grad((gradient * v).sum(), x)
    torch.testing.assert_close(hvp, operator.adjoint(operator(v)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("direction", ["forward", "adjoint"])
def test_torch_func_transforms_equal_the_explicit_operators(operator, direction):
    """torch.func's vjp, jvp, grad and vmap of A and A^T (DeepInverse's adjoint_function relies on vjp)."""
    apply, other = (operator, operator.adjoint) if direction == "forward" else (operator.adjoint, operator)
    shape, other_shape = ((operator.domain_shape, operator.range_shape) if direction == "forward"
                          else (operator.range_shape, operator.domain_shape))
    x, u = _random((2, 1, *shape)), _random((2, 1, *shape), seed=1)
    w = _random((2, 1, *other_shape), seed=2)
    close = {"rtol": 1e-5, "atol": 1e-5}
    value, vjp = torch.func.vjp(apply, x)
    torch.testing.assert_close(value, apply(x), **close)
    torch.testing.assert_close(vjp(w)[0], other(w), **close)
    torch.testing.assert_close(torch.func.jvp(apply, (x,), (u,))[1], apply(u), **close)
    torch.testing.assert_close(torch.func.grad(lambda t: (apply(t) * w).sum())(x), other(w), **close)
    stacked = _random((3, 2, 1, *shape), seed=3)
    torch.testing.assert_close(torch.func.vmap(apply)(stacked), torch.stack([apply(t) for t in stacked]), **close)
    torch.testing.assert_close(torch.func.vmap(apply, in_dims=1, out_dims=1)(stacked.transpose(0, 1)),
                               torch.stack([apply(t) for t in stacked], dim=1), **close)


def test_copies_and_pickles_work_after_the_backend_has_run(operator):
    import copy
    import pickle

    x = _random((1, 1, *operator.domain_shape))
    expected = operator(x)  # the backend now exists, with its native handles
    for copied in (copy.deepcopy(operator), pickle.loads(pickle.dumps(operator))):
        torch.testing.assert_close(copied(x), expected, rtol=1e-6, atol=1e-6)


def test_batch_equals_per_sample(operator):
    """ASTRA's projectors give the same bytes; the sparse product the same values up to rounding.

    (MKL's sparse kernels sum in an order that depends on the number of columns and, under
    load, on the threads it takes: differences of about 3e-8 were seen.)
    """
    x = _random((4, 2, *operator.domain_shape))
    batched = operator(x)
    tolerance = 0 if operator.resolved_cpu_backend() != "sparse" else 1e-6
    for b in range(4):
        for c in range(2):
            single = operator(x[b : b + 1, c : c + 1])
            torch.testing.assert_close(batched[b, c], single[0, 0], rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("name", ["parallel", "fan"])
def test_threaded_equals_serial(name):
    x = _random((5, 1, *GEOMETRIES[name].image_shape))
    serial = RayTransform(GEOMETRIES[name], num_threads=1)
    threaded = RayTransform(GEOMETRIES[name], num_threads=3)
    torch.testing.assert_close(threaded(x), serial(x), rtol=0, atol=0)
    y = serial(x)
    torch.testing.assert_close(threaded.adjoint(y), serial.adjoint(y), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["parallel", "fan", "square-parallel", "square-fan"])
def test_sparse_backend_equals_astra(name):
    x = _random((3, 1, *GEOMETRIES[name].image_shape))
    astra_op = RayTransform(GEOMETRIES[name])
    sparse_op = RayTransform(GEOMETRIES[name], cpu_backend="sparse")
    torch.testing.assert_close(sparse_op(x), astra_op(x), rtol=1e-5, atol=1e-6)
    one_thread = RayTransform(GEOMETRIES[name], cpu_backend="sparse", num_threads=1)
    threads_before = torch.get_num_threads()
    torch.testing.assert_close(one_thread(x), sparse_op(x), rtol=0, atol=0)
    assert torch.get_num_threads() == threads_before
    y = astra_op(x)
    torch.testing.assert_close(sparse_op.adjoint(y), astra_op.adjoint(y), rtol=1e-5, atol=1e-6)


def test_non_contiguous_input():
    operator = RayTransform(PARALLEL)
    x = _random((2, 1, 11, 17)).transpose(2, 3)
    assert not x.is_contiguous()
    torch.testing.assert_close(operator(x), operator(x.contiguous()), rtol=0, atol=0)


def test_empty_batch():
    operator = RayTransform(PARALLEL)
    assert operator(torch.zeros(0, 1, 17, 11)).shape == (0, 1, 7, 23)


def test_norm_is_cached_and_matches_the_largest_singular_value():
    geometry = Geometry.parallel(image_size=(9, 7), num_angles=5, num_detectors=13)
    operator = RayTransform(geometry)
    matrix = np.stack(
        [operator(torch.eye(63)[k].reshape(1, 1, 9, 7)).flatten().numpy() for k in range(63)], axis=1
    )
    expected = np.linalg.norm(matrix.astype(np.float64), 2)
    assert operator.norm(rtol=1e-9, iterations=1000) == pytest.approx(expected, rel=1e-4)
    assert operator.T.norm() == operator.norm()


@pytest.mark.parametrize(
    ("geometry", "size"),
    [
        (Geometry.lodopab_small(), "128"),
        (Geometry.lodopab(), "lodopab"),
        (PARALLEL, "odd"),
        (FAN, "fan"),
    ],
    ids=["128-360-183", "lodopab", "odd-parallel", "odd-fan"],
)
def test_forward_equals_odl_ray_transform(geometry, size):
    """recon and ODL 1.0 (astra_cpu) give the same sinogram of the same x-first array."""
    from odl.applications import tomo

    space, odl_geometry = geometry_to_odl(geometry)
    reference = tomo.RayTransform(space, odl_geometry, impl="astra_cpu")
    image = shepp_logan(geometry.image_shape)
    expected = reference(space.element(image)).asarray()
    ours = RayTransform(geometry)(torch.from_numpy(image)[None, None])[0, 0].numpy()
    relative_error = np.linalg.norm(ours - expected) / np.linalg.norm(expected)
    assert relative_error <= 1e-4


def test_projection_of_a_disc_is_its_chord_length():
    """Physical units: a uniform disc of radius r projects to 2 sqrt(r^2 - s^2) metres."""
    geometry = Geometry.parallel(image_size=256, num_angles=4, num_detectors=101)
    radius = 0.08
    coordinates = (np.arange(256) + 0.5) / 256 * 0.26 - 0.13
    xx, yy = np.meshgrid(coordinates, coordinates, indexing="ij")
    disc = (xx**2 + yy**2 <= radius**2).astype(np.float32)
    sinogram = RayTransform(geometry)(torch.from_numpy(disc)[None, None])[0, 0].numpy()
    s = np.linspace(geometry.detector_min[0], geometry.detector_max[0], 102)
    s = 0.5 * (s[1:] + s[:-1])
    inside = np.abs(s) < 0.9 * radius
    chord = 2 * np.sqrt(radius**2 - s[inside] ** 2)
    np.testing.assert_allclose(sinogram[:, inside], np.broadcast_to(chord, (4, inside.sum())), atol=3e-3)


def test_orientation_matches_the_radon_convention():
    """A point at (x, y) appears at detector position s = x cos(theta) + y sin(theta)."""
    geometry = Geometry.parallel(image_size=65, num_angles=6, num_detectors=129)
    image = np.zeros((65, 65), dtype=np.float32)
    i, j = 50, 20  # x > 0, y < 0
    image[i, j] = 1
    x = geometry.image_min[0] + (i + 0.5) * geometry.pixel_size[0]
    y = geometry.image_min[1] + (j + 0.5) * geometry.pixel_size[1]
    sinogram = RayTransform(geometry)(torch.from_numpy(image)[None, None])[0, 0].numpy()
    spacing = geometry.detector_spacing[0]
    for k, theta in enumerate(geometry.angles):
        s = x * np.cos(theta) + y * np.sin(theta)
        centre_of_mass = np.sum(sinogram[k] * (geometry.detector_min[0] + (np.arange(129) + 0.5) * spacing))
        centre_of_mass /= sinogram[k].sum()
        assert centre_of_mass == pytest.approx(s, abs=0.5 * spacing)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: torch.zeros(17, 11), ValueError, r"4-D tensor of shape \(B, C, 17, 11\)"),
        (lambda: torch.zeros(1, 1, 11, 17), ValueError, r"expected shape \(B, C, 17, 11\)"),
        (lambda: torch.zeros(1, 1, 17, 11, dtype=torch.float64), TypeError, "float32, got torch.float64"),
        (lambda: torch.zeros(1, 1, 17, 11, dtype=torch.int32), TypeError, "float32"),
        (lambda: torch.zeros(1, 1, 17, 11, device="meta"), ValueError, "CPU or CUDA"),
        (lambda: np.zeros((1, 1, 17, 11), dtype=np.float32), TypeError, "torch.Tensor, got ndarray"),
    ],
)
def test_bad_images_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        RayTransform(PARALLEL)(make())


def test_sinogram_that_does_not_match_the_geometry():
    with pytest.raises(ValueError, match=r"sinogram: expected shape \(B, C, 7, 23\) for this geometry, got \(1, 1, 7, 22\)"):
        RayTransform(PARALLEL).adjoint(torch.zeros(1, 1, 7, 22))


def test_bad_construction_arguments():
    with pytest.raises(TypeError, match="recon.Geometry"):
        RayTransform("lodopab")
    with pytest.raises(ValueError, match="cpu_backend"):
        RayTransform(PARALLEL, cpu_backend="gpu")
    with pytest.raises(ValueError, match="cuda_backend: expected 'astra' or 'sparse', got 'cusparse'"):
        RayTransform(PARALLEL, cuda_backend="cusparse")
    with pytest.raises(ValueError, match="cuda_backend: 'sparse' needs a 2D geometry, got a 'cone' one"):
        RayTransform(Geometry.cone(volume_size=8, num_angles=4, detector_size=(9, 9)), cuda_backend="sparse")
    with pytest.raises(ValueError, match=r"projector: expected one of \['line'\] for a fan beam, got 'linear'"):
        RayTransform(FAN, projector="linear")  # at construction, not at the first projection
    with pytest.raises(ValueError, match=r"projector: expected one of \['line', 'linear', 'strip'\] for a "
                                         r"parallel beam, got 'foo'"):
        RayTransform(PARALLEL, projector="foo")
    with pytest.raises(ValueError, match=r"projector: expected one of \('linear', 'line', 'strip'\), got 'foo'"):
        RayTransform(Geometry.cone(volume_size=8, num_angles=4, detector_size=(9, 9)), projector="foo")
    with pytest.raises(ValueError, match="memory size"):
        RayTransform(PARALLEL, sparse_memory_budget="lots")


@pytest.mark.skipif(cuda_usable(), reason="checks the message shown without a GPU")
def test_3d_on_cpu_says_what_is_needed():
    from recon.operators.backends import BackendUnavailableError

    geometry = Geometry.parallel3d(volume_size=(9, 8, 7), num_angles=5, detector_size=(13, 7))
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        RayTransform(geometry)(torch.zeros(1, 1, 9, 8, 7))


# ------------------------------------------------------------ backend choice
def test_auto_backend_follows_the_memory_budget():
    assert RayTransform(PARALLEL, cpu_backend="auto", sparse_memory_budget="1GiB").resolved_cpu_backend() == "sparse"
    assert RayTransform(PARALLEL, cpu_backend="auto", sparse_memory_budget=10).resolved_cpu_backend() == "threads"
    # LoDoPaB-CT's stored quarter (estimated 1.5 GB) fits 2 GiB, not 1 GiB.
    lodopab = RayTransform(Geometry.lodopab(), cpu_backend="auto", sparse_memory_budget="2GiB")
    assert lodopab.resolved_cpu_backend() == "sparse"
    lodopab = RayTransform(Geometry.lodopab(), cpu_backend="auto", sparse_memory_budget="1GiB")
    assert lodopab.resolved_cpu_backend() == "threads"


def test_sparse_matrix_is_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("RECON_CACHE_DIR", str(tmp_path))
    x = _random((1, 1, *PARALLEL.image_shape))
    first = RayTransform(PARALLEL, cpu_backend="sparse")(x)
    cached = list((tmp_path / "matrices").glob("*.npz"))
    assert len(cached) == 1
    assert not list((tmp_path / "matrices").glob("*.part"))
    cached[0].write_bytes(b"damaged")  # a damaged entry is rebuilt, not trusted
    torch.testing.assert_close(RayTransform(PARALLEL, cpu_backend="sparse")(x), first, rtol=0, atol=0)


# ------------------------------------------------------------ resources
def test_astra_objects_are_freed():
    import astra

    ids = []
    for _ in range(1000):
        operator = RayTransform(PARALLEL)
        operator(torch.zeros(1, 1, 17, 11))
        ids.append(operator.backend_for(torch.device("cpu")).projector_id)
        del operator
    gc.collect()
    for projector_id in (ids[0], ids[500], ids[-1]):
        with pytest.raises(Exception, match="not found"):
            astra.projector.projection_geometry(projector_id)


def test_close_frees_now_and_the_operator_recreates_on_use():
    import astra

    operator = RayTransform(PARALLEL)
    x = torch.ones(1, 1, 17, 11)
    before = operator(x)
    projector_id = operator.backend_for(torch.device("cpu")).projector_id
    operator.close()
    with pytest.raises(Exception, match="not found"):
        astra.projector.projection_geometry(projector_id)
    torch.testing.assert_close(operator(x), before, rtol=0, atol=0)


def test_deepcopy_and_pickle_do_not_share_native_handles():
    import copy
    import pickle

    operator = RayTransform(PARALLEL)
    x = torch.ones(1, 1, 17, 11)
    expected = operator(x)
    for clone in (copy.deepcopy(operator), pickle.loads(pickle.dumps(operator))):
        assert clone._backends == {}
        torch.testing.assert_close(clone(x), expected, rtol=0, atol=0)


def test_an_operator_that_ran_holds_no_module_among_its_attributes():
    """Walkers of the attribute graph (deepinv's ``clone()``) must not reach a module: through one they would reach
    the whole interpreter (urllib3's pool manager, which refuses to be iterated, stopped deepinv's clone)."""
    import inspect
    import types

    for backend in ("threads", "sparse"):
        operator = RayTransform(PARALLEL, cpu_backend=backend)
        operator(torch.ones(1, 1, 17, 11))
        queue, seen = [operator], {id(operator)}
        while queue:
            node = queue.pop()
            assert not isinstance(node, types.ModuleType)
            values = [inspect.getattr_static(node, name, None) for name in dir(node)]
            values += list(node.values()) if isinstance(node, dict) else []
            for value in values:
                if value is not None and id(value) not in seen:
                    seen.add(id(value))
                    queue.append(value)


# ------------------------------------------------------------ CPU and CUDA
@pytest.mark.parametrize("name, cuda_backend", [("parallel", "astra"), ("parallel", "sparse"), ("fan", "astra"),
                                               ("square-parallel", "sparse"), ("square-fan", "astra")])
def test_on_device(device, name, cuda_backend):
    """On CUDA: close to the CPU result, dot test within ASTRA CUDA's mismatch, gradients flow."""
    geometry = GEOMETRIES[name]
    operator = RayTransform(geometry, cuda_backend=cuda_backend).to(device)
    x = _random((3, 1, *geometry.image_shape), device=device).requires_grad_(True)
    y = operator(x)
    assert y.device == x.device
    reference = RayTransform(geometry)(x.detach().cpu())
    relative = float((y.detach().cpu() - reference).norm() / reference.norm())
    # CUDA fan beam runs the CPU projector's matrix (exact); parallel beam ASTRA's CUDA pair
    # unless the matrix is asked for.
    exact = device.type == "cpu" or name.endswith("fan") or cuda_backend == "sparse"
    assert relative <= (1e-6 if exact else 2e-2)
    assert dot_test(operator, device=device) <= (DOT_TOLERANCE["cpu"] if exact else DOT_TOLERANCE["cuda"])
    y.sum().backward()
    assert x.grad.device == x.device and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name, cuda_backend, expected", [
    ("parallel", "astra", "astra"), ("parallel", "sparse", "sparse"), ("fan", "astra", "sparse")])
def test_cuda_tensors_choose_an_adjoint_backend(monkeypatch, name, cuda_backend, expected):
    """Fan beam on CUDA always takes the exact sparse matrix: ASTRA's CUDA fan pair is not adjoint;
    parallel beam when asked (checkable without a GPU)."""
    import recon.operators.ray_transform as module

    chosen = []
    monkeypatch.setattr(module, "create_backend", lambda backend, *args, **options: chosen.append(
        (backend, options.get("device"))))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (2**34, 2**34))
    RayTransform(GEOMETRIES[name], cuda_backend=cuda_backend).backend_for(torch.device("cuda:0"))
    assert chosen == [(expected, torch.device("cuda:0"))]


def test_cuda_fan_beam_refuses_a_matrix_larger_than_free_gpu_memory(monkeypatch):
    """Checked before anything is built (checkable without a GPU)."""
    import recon.operators.ray_transform as module

    monkeypatch.setattr(module, "create_backend", lambda *args, **options: pytest.fail("built"))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (0, 2**34))
    with pytest.raises(MemoryError, match=r"fan beam on cuda:0: expected room .* got 0.00 GiB of free GPU memory"):
        RayTransform(FAN).backend_for(torch.device("cuda:0"))


def test_astra_cuda_backend_refuses_fan_beam():
    from recon.operators.backends import create_backend

    with pytest.raises(ValueError, match="fan-beam one"):
        create_backend("astra", FAN, "line", device="cuda")


@pytest.mark.gpu
@pytest.mark.parametrize(
    "geometry",
    [
        Geometry.parallel3d(volume_size=(9, 8, 7), num_angles=5, detector_size=(13, 7)),
        Geometry.cone(volume_size=(9, 8, 7), num_angles=5, detector_size=(13, 11)),
    ],
    ids=["parallel3d", "cone"],
)
def test_3d_on_cuda(geometry):
    if not cuda_usable():
        pytest.skip("needs a CUDA GPU and a CUDA-enabled astra-toolbox")
    from odl.applications import tomo

    operator = RayTransform(geometry)
    x = _random((2, 1, *geometry.image_shape), device="cuda")
    y = operator(x)
    assert y.shape == (2, 1, *geometry.sinogram_shape)
    # ASTRA's own cone pair is mismatched by 1.5e-2 (H100, create_sino3d_gpu and
    # create_backprojection3d_gpu); its 3D parallel pair by 1.5e-3.
    assert dot_test(operator, device="cuda") <= 2e-2
    space, odl_geometry = geometry_to_odl(geometry)
    reference = tomo.RayTransform(space, odl_geometry, impl="astra_cuda")
    expected = reference(space.element(x[0, 0].cpu().numpy())).asarray()
    assert np.linalg.norm(y[0, 0].cpu().numpy() - expected) <= 1e-3 * np.linalg.norm(expected)


def test_no_projection_outlives_an_interrupted_batch():
    """If one sample's job fails (or Ctrl-C arrives), the call returns only when no job runs."""
    import threading
    import time

    backend = RayTransform(PARALLEL, num_threads=2).backend_for(torch.device("cpu"))
    finished = []
    lock = threading.Lock()

    def project(projector_id, source, *, out):
        if float(source[0, 0]) == 0:
            raise KeyboardInterrupt
        time.sleep(0.05)
        with lock:
            finished.append(float(source[0, 0]))

    inputs = torch.arange(6, dtype=torch.float32)[:, None, None].expand(6, 17, 11).contiguous()
    with pytest.raises(KeyboardInterrupt):
        backend._run(project, inputs, torch.empty(6, 7, 23))
    snapshot = list(finished)
    time.sleep(0.2)
    assert finished == snapshot  # nothing still running after the call returned
