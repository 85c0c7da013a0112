"""Geometry values: presets, validation, JSON, ASTRA and ODL conversion."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from recon.geometry import Geometry
from recon.operators.backends.astra_geometry import astra_geometries_3d
from recon.operators.odl_geometry import geometry_to_odl


def test_lodopab_preset_matches_the_published_numbers():
    g = Geometry.lodopab()
    assert g.image_shape == (362, 362)
    assert g.image_min == (-0.13, -0.13) and g.image_max == (0.13, 0.13)
    assert g.sinogram_shape == (1000, 513)
    assert g.detector_max[0] == pytest.approx(0.13 * math.sqrt(2))
    assert g.angles[0] == pytest.approx(math.pi / 2000)
    assert g.angles[-1] == pytest.approx(math.pi - math.pi / 2000)


def test_lodopab_angles_and_detector_equal_odls_parallel_beam_geometry():
    import odl
    from odl.applications import tomo

    space = odl.uniform_discr([-0.13, -0.13], [0.13, 0.13], (362, 362))
    reference = tomo.parallel_beam_geometry(space, num_angles=1000, det_shape=513)
    g = Geometry.lodopab()
    np.testing.assert_allclose(g.angles, reference.angles, rtol=0, atol=1e-12)
    np.testing.assert_allclose(g.detector_min, reference.det_partition.min_pt, atol=1e-12)
    np.testing.assert_allclose(g.detector_max, reference.det_partition.max_pt, atol=1e-12)


def test_non_square_image_keeps_square_pixels():
    g = Geometry.parallel(image_size=(17, 11), num_angles=7, num_detectors=23)
    assert g.pixel_size[0] == pytest.approx(g.pixel_size[1])
    assert g.image_max[0] == pytest.approx(0.13)


@pytest.mark.parametrize(
    "geometry",
    [
        Geometry.parallel(image_size=(17, 11), num_angles=7, num_detectors=23),
        Geometry.fan(image_size=(19, 13), num_angles=9, num_detectors=31),
        Geometry.parallel3d(volume_size=(9, 8, 7), num_angles=5, detector_size=(13, 7)),
        Geometry.cone(volume_size=(9, 8, 7), num_angles=5, detector_size=(13, 11)),
    ],
    ids=["parallel", "fan", "parallel3d", "cone"],
)
def test_json_round_trip(geometry):
    restored = Geometry.from_json(geometry.to_json())
    assert restored == geometry
    assert hash(restored) == hash(geometry)
    assert restored.fingerprint() == geometry.fingerprint()


def test_geometry_is_immutable():
    g = Geometry.parallel(image_size=8, num_angles=3, num_detectors=5)
    with pytest.raises(AttributeError):
        g.angles = (0.0,)


def test_angle_subset_is_sparse_view():
    g = Geometry.lodopab().angle_subset(20)
    assert g.num_angles == 50
    assert g.angles == Geometry.lodopab().angles[::20]
    assert Geometry.lodopab().angle_subset(4, offset=3).angles[0] == Geometry.lodopab().angles[3]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Geometry.parallel(image_size=0, num_angles=3, num_detectors=5), "image_size"),
        (lambda: Geometry.parallel(image_size=8, num_angles=0, num_detectors=5), "num_angles"),
        (lambda: Geometry.parallel(image_size=8, num_angles=3, num_detectors=-1), "num_detectors"),
        (lambda: Geometry.parallel(image_size=8).with_angles([]), "at least one"),
        (lambda: Geometry.parallel(image_size=8).with_angles([0.0, float("nan")]), "finite"),
        (lambda: Geometry.fan(image_size=8, source_radius=0.1), "source_radius"),
        (lambda: Geometry.parallel(image_size=10.5),
         r"image_size: expected a positive int or 2 positive ints, got 10.5"),
        (lambda: Geometry.parallel(image_size=(16, 0)),
         r"image_size: expected a positive int or 2 positive ints, got \(16, 0\)"),
        (lambda: Geometry.fan(image_size=[16, 16, 16]),
         r"image_size: expected a positive int or 2 positive ints, got \[16, 16, 16\]"),
        (lambda: Geometry.parallel(num_angles=7.5), r"num_angles: expected a positive int, got 7.5"),
        (lambda: Geometry.fan(num_detectors=True), r"num_detectors: expected a positive int, got True"),
        (lambda: Geometry.cone(volume_size="64"), r"volume_size: expected a positive int or 3 positive ints, got '64'"),
        (lambda: Geometry.parallel(image_size=8).angle_subset(0), "step"),
        (lambda: Geometry.parallel(image_size=8).angle_subset(2, offset=2), "offset"),
        (lambda: Geometry.from_dict({"kind": "parallel", "colour": 1}), "unknown"),
        (lambda: Geometry.from_dict({"kind": "parallel"}), "incomplete"),
        (
            lambda: Geometry(kind="helical", image_shape=(4, 4), image_min=(-1, -1), image_max=(1, 1),
                             angles=(0.0,), detector_shape=(4,), detector_min=(-1,), detector_max=(1,)),
            "kind",
        ),
        (
            lambda: Geometry(kind="parallel", image_shape=(4, 4), image_min=(1, 1), image_max=(-1, -1),
                             angles=(0.0,), detector_shape=(4,), detector_min=(-1,), detector_max=(1,)),
            "image_min < image_max",
        ),
        (
            lambda: Geometry(kind="parallel", image_shape=(4, 4, 4), image_min=(-1, -1), image_max=(1, 1),
                             angles=(0.0,), detector_shape=(4,), detector_min=(-1,), detector_max=(1,)),
            "image_shape",
        ),
    ],
)
def test_impossible_values_are_refused_with_a_clear_message(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_odl_geometries_have_the_same_shapes():
    for g in (
        Geometry.parallel(image_size=(17, 11), num_angles=7, num_detectors=23),
        Geometry.fan(image_size=(19, 13), num_angles=9, num_detectors=31),
        Geometry.cone(volume_size=(9, 8, 7), num_angles=5, detector_size=(13, 11)),
    ):
        space, odl_geometry = geometry_to_odl(g)
        assert space.shape == g.image_shape
        np.testing.assert_allclose(odl_geometry.angles, g.angles)
        assert tuple(odl_geometry.det_partition.shape) == g.detector_shape


def _detector_centre_across_rays(vectors: np.ndarray, ray: slice, centre: slice) -> np.ndarray:
    """Parallel beams: the detector centre matters only up to a shift along the ray."""
    vectors = vectors.copy()
    direction = vectors[:, ray] / np.linalg.norm(vectors[:, ray], axis=1, keepdims=True)
    along = np.sum(vectors[:, centre] * direction, axis=1, keepdims=True)
    vectors[:, centre] -= along * direction
    return vectors


@pytest.mark.parametrize(
    "geometry",
    [
        Geometry.parallel3d(volume_size=(9, 8, 7), num_angles=5, detector_size=(13, 7)),
        Geometry.cone(volume_size=(9, 8, 7), num_angles=5, detector_size=(13, 11)),
    ],
    ids=["parallel3d", "cone"],
)
def test_3d_astra_geometry_equals_odls_cuda_geometry(geometry):
    """The CUDA backend's 3D vectors equal ODL's (checkable without a GPU)."""
    from odl.applications.tomo.backends.astra_setup import (
        astra_projection_geometry,
        astra_volume_geometry,
    )

    space, odl_geometry = geometry_to_odl(geometry)
    vol_geom, proj_geom = astra_geometries_3d(geometry)
    reference = astra_projection_geometry(odl_geometry, "cuda")
    assert proj_geom["type"] == reference["type"]
    assert (proj_geom["DetectorRowCount"], proj_geom["DetectorColCount"]) == (
        reference["DetectorRowCount"], reference["DetectorColCount"])
    ours, theirs = proj_geom["Vectors"], reference["Vectors"]
    if geometry.kind == "parallel3d":
        ours = _detector_centre_across_rays(ours, slice(0, 3), slice(3, 6))
        theirs = _detector_centre_across_rays(theirs, slice(0, 3), slice(3, 6))
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    reference_vol = astra_volume_geometry(space, "cuda")
    for key in ("GridRowCount", "GridColCount", "GridSliceCount"):
        assert vol_geom[key] == reference_vol[key]
    for key, value in reference_vol["option"].items():
        assert vol_geom["option"][key] == pytest.approx(value)


def test_stacked_2d_cuda_geometry_matches_odl_in_plane():
    """For 2D parallel beam on CUDA, ray, detector centre and pixel step agree with ODL in the slice plane."""
    from odl.applications.tomo.backends.astra_setup import astra_projection_geometry

    geometry = Geometry.parallel(image_size=(17, 11), num_angles=7, num_detectors=23)
    _, proj_geom = astra_geometries_3d(geometry, num_slices=1)
    reference = astra_projection_geometry(geometry_to_odl(geometry)[1], "cuda")
    ours = _detector_centre_across_rays(proj_geom["Vectors"], slice(0, 3), slice(3, 6))
    theirs = _detector_centre_across_rays(reference["Vectors"], slice(0, 3), slice(3, 6))
    in_plane = [0, 1, 3, 4, 6, 7]  # X and Y of ray, detector centre, u
    np.testing.assert_allclose(ours[:, in_plane], theirs[:, in_plane], atol=1e-12)


def test_fan_geometry_has_no_astra_3d_form():
    """Fan beam goes to the sparse backend on CUDA; asking for ASTRA 3D vectors says so."""
    with pytest.raises(ValueError, match="sparse system matrix"):
        astra_geometries_3d(Geometry.fan(image_size=8, num_angles=3, num_detectors=9))


@pytest.mark.parametrize("build", [
    lambda: Geometry.fan(image_size=16, num_angles=4, num_detectors=9, source_radius=0.1),
    lambda: Geometry.cone(volume_size=8, num_angles=4, detector_size=(9, 9), source_radius=0.1),
    lambda: replace(Geometry.fan(image_size=16, num_angles=4, num_detectors=9), source_radius=0.1),
])
def test_a_source_inside_the_image_domain_is_refused_by_every_constructor(build):
    with pytest.raises(ValueError, match=r"source_radius 0.1 m lies inside the image domain \(radius 0.18\d* m\)"):
        build()
