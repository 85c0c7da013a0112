"""The sparse backend's symmetric storage: which views repeat others, and that the operator stays ASTRA's.

The stored rows come from ASTRA's projector at the stored angles; every other view's rows are those rows on the
rotated or mirrored image. ASTRA computes each view's rows in float32 from that view's own sines and cosines, so
its rows for ``t`` and ``pi - t`` agree to its rounding, not to the bit: measured up to 4e-4 of the largest entry
(the ``line`` model, whose intersection lengths are the most sensitive; a change of the angle by 1e-9 rad already
moves them by 4e-5), about 3e-6 on whole projections. The references below are ASTRA's own matrix for every view
and ASTRA's projector run directly, never the symmetry code's own reasoning.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse
import torch

from recon import Geometry, RayTransform, dot_test
from recon.operators.backends.sparse import (
    SparseMatrixBackend,
    estimate_sparse_bytes,
    load_or_build_csr,
    stored_geometry,
)
from recon.operators.backends.view_symmetry import SQUARE_SYMMETRIES, find_view_symmetry, pixel_permutation
from tests.conftest import cuda_usable

SQUARE_PARALLEL = Geometry.parallel(image_size=16, num_angles=24, num_detectors=23)
SQUARE_FAN = Geometry.fan(image_size=16, num_angles=40, num_detectors=31)
CASES = {
    "parallel-linear": (SQUARE_PARALLEL, "linear"),
    "parallel-line": (SQUARE_PARALLEL, "line"),
    "parallel-strip": (SQUARE_PARALLEL, "strip"),
    "parallel-odd-size": (Geometry.parallel(image_size=17, num_angles=40, num_detectors=24), "linear"),
    "parallel-full-turn": (Geometry.parallel(image_size=16, num_angles=48, num_detectors=23,
                                             angle_range=(0.0, 2 * math.pi)), "linear"),
    "parallel-from-zero": (SQUARE_PARALLEL.with_angles(np.arange(24) * math.pi / 24), "linear"),
    "fan": (SQUARE_FAN, "line"),
}


def _dense_symmetric(geometry: Geometry, projector: str) -> np.ndarray:
    """The symmetric backend's matrix, column by column (its forward on the pixel basis)."""
    backend = SparseMatrixBackend(geometry, projector, cache=False)
    pixels = int(np.prod(geometry.image_shape))
    out = torch.empty(pixels, *geometry.sinogram_shape)
    backend.forward(torch.eye(pixels).reshape(pixels, *geometry.image_shape), out)
    return out.reshape(pixels, -1).T.double().numpy()


def _dense_astra(geometry: Geometry, projector: str) -> np.ndarray:
    """ASTRA's own system matrix with a row for every view."""
    indptr, indices, data = load_or_build_csr(geometry, projector, cache=False)
    shape = (geometry.num_angles * geometry.num_detectors, int(np.prod(geometry.image_shape)))
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=shape).toarray().astype(np.float64)


# ------------------------------------------------------------ which views repeat which
def test_lodopab_angles_are_stored_as_one_quarter():
    geometry = Geometry.lodopab()
    symmetry = find_view_symmetry(geometry)
    assert symmetry.reduction == 4.0
    assert symmetry.transforms == SQUARE_SYMMETRIES[:4]
    np.testing.assert_array_equal(symmetry.stored_views, np.arange(250))  # the angles in (0, pi/4)
    assert not symmetry.reversed_bins.any()
    assert np.bincount(symmetry.source_transform).tolist() == [250] * 4
    # The stored quarter fits the default 2 GiB budget that the full matrix (3.6 GiB) did not.
    assert estimate_sparse_bytes(geometry, "linear") < 2**31
    assert RayTransform(geometry, cpu_backend="auto").resolved_cpu_backend() == "sparse"


def test_sparse_view_angles_keep_the_quarter_turn_only():
    """60 of 360 midpoint angles (every 6th): t + pi/2 is among them, pi - t is not."""
    symmetry = find_view_symmetry(Geometry.lodopab_small().angle_subset(6))
    assert symmetry.reduction == 2.0
    assert symmetry.transforms == (SQUARE_SYMMETRIES[0], SQUARE_SYMMETRIES[3])


@pytest.mark.parametrize("geometry", [
    Geometry.parallel(image_size=(16, 12), num_angles=24, num_detectors=23),  # not square
    Geometry.parallel(image_size=16, num_angles=24, num_detectors=23).angle_subset(5),  # no angle repeats
    Geometry(kind="parallel", image_shape=(16, 16), image_min=(-1.0, -0.9), image_max=(1.0, 1.1),
             angles=SQUARE_PARALLEL.angles, detector_shape=(23,), detector_min=(-1.5,), detector_max=(1.5,)),
], ids=["not-square", "no-repeats", "off-centre-grid"])
def test_geometries_without_the_symmetry_keep_every_row(geometry):
    assert find_view_symmetry(geometry) is None
    stored, symmetry = stored_geometry(geometry)
    assert stored == geometry and symmetry is None


def test_views_read_backwards_need_a_centred_detector():
    """A fan beam's mirrors reverse the detector; with the detector off centre only the rotations remain."""
    centred = find_view_symmetry(SQUARE_FAN)
    assert centred.reduction == 8.0 and centred.reversed_bins.sum() == 20
    shifted = Geometry(**{**SQUARE_FAN.to_dict(), "detector_min": (-0.3,), "detector_max": (0.35,)})
    symmetry = find_view_symmetry(shifted)
    assert symmetry.reduction == 4.0 and not symmetry.reversed_bins.any()


@pytest.mark.parametrize("size", [5, 6])
@pytest.mark.parametrize("symmetry", SQUARE_SYMMETRIES)
def test_pixel_permutation_evaluates_the_image_at_the_mapped_pixel_centres(symmetry, size):
    """``(f∘G)[i, j] == f at G (x_i, y_j)``, looked up by coordinates."""
    centres = np.arange(size) - (size - 1) / 2
    image = np.random.default_rng(0).random((size, size))
    expected = np.empty_like(image)
    for i, x in enumerate(centres):
        for j, y in enumerate(centres):
            gx, gy = np.asarray(symmetry) @ (x, y)
            expected[i, j] = image[np.flatnonzero(centres == gx)[0], np.flatnonzero(centres == gy)[0]]
    np.testing.assert_array_equal(image.ravel()[pixel_permutation(symmetry, size)], expected.ravel())


# ------------------------------------------------------------ the operator it gives
@pytest.mark.parametrize("case", CASES)
def test_symmetric_matrix_equals_astras_full_matrix(case):
    geometry, projector = CASES[case]
    symmetry = find_view_symmetry(geometry)
    assert symmetry is not None and symmetry.reduction > 1
    symmetric, full = _dense_symmetric(geometry, projector), _dense_astra(geometry, projector)
    largest = np.abs(full).max()
    assert np.abs(symmetric - full).max() <= 1e-3 * largest
    # Where one has a nonzero the other lacks, it is rounding-sized.
    assert np.abs(symmetric - full)[(symmetric != 0) != (full != 0)].max(initial=0) <= 2e-4 * largest
    # Every kind of view (each transform, bins in order or reversed) agrees on whole projections.
    image = np.random.default_rng(1).random(full.shape[1])
    rows = lambda views: (views[:, None] * geometry.num_detectors + np.arange(geometry.num_detectors)).ravel()  # noqa: E731
    for m in range(len(symmetry.transforms)):
        for reverse in (False, True):
            views = np.flatnonzero((symmetry.source_transform == m) & (symmetry.reversed_bins == reverse))
            if len(views):
                mine, theirs = symmetric[rows(views)] @ image, full[rows(views)] @ image
                assert np.linalg.norm(mine - theirs) <= 1e-5 * np.linalg.norm(theirs)


@pytest.mark.parametrize("case", ["parallel-linear", "parallel-strip", "fan"])
def test_symmetric_sparse_operator_equals_astras_projector(case):
    """Against ASTRA run directly (the threads backend), forward and adjoint, a batch at once."""
    geometry, projector = CASES[case]
    x = torch.rand(5, 1, *geometry.image_shape, generator=torch.Generator().manual_seed(2))
    sparse = RayTransform(geometry, projector=projector, cpu_backend="sparse")
    astra = RayTransform(geometry, projector=projector, cpu_backend="threads")
    torch.testing.assert_close(sparse(x), astra(x), rtol=1e-5, atol=1e-5 * float(astra(x).abs().max()))
    y = astra(x)
    expected = astra.adjoint(y)
    torch.testing.assert_close(sparse.adjoint(y), expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))


@pytest.mark.parametrize("case", CASES)
def test_symmetric_adjoint_is_the_exact_transpose(case):
    geometry, projector = CASES[case]
    backend = SparseMatrixBackend(geometry, projector, cache=False)
    rows = geometry.num_angles * geometry.num_detectors
    out = torch.empty(rows, *geometry.image_shape)
    backend.adjoint(torch.eye(rows).reshape(rows, *geometry.sinogram_shape), out)
    np.testing.assert_array_equal(out.reshape(rows, -1).double().numpy(), _dense_symmetric(geometry, projector))
    assert dot_test(RayTransform(geometry, projector=projector, cpu_backend="sparse")) <= 1e-6


def test_symmetric_storage_holds_a_quarter_of_the_rows():
    full_rows = SQUARE_PARALLEL.num_angles * SQUARE_PARALLEL.num_detectors
    backend = SparseMatrixBackend(SQUARE_PARALLEL, "linear", cache=False)
    assert backend.matrix.shape == (full_rows // 4, 16 * 16)
    assert backend.matrix_t.shape == (16 * 16, full_rows // 4)


@pytest.mark.gpu
def test_symmetric_sparse_operator_on_cuda():
    if not cuda_usable():
        pytest.skip("needs a CUDA GPU and a CUDA-enabled astra-toolbox")
    operator = RayTransform(SQUARE_FAN)
    x = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    on_gpu = operator.to("cuda")
    torch.testing.assert_close(on_gpu(x.cuda()).cpu(), operator(x), rtol=1e-5, atol=1e-5)
    assert on_gpu.backend_for(torch.device("cuda")).symmetry is not None
    assert dot_test(on_gpu, device="cuda") <= 1e-5
