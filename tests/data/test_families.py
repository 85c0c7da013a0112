"""Named image families: roles, reproducible sources, and the checks that keep evaluation honest."""

from __future__ import annotations

import numpy as np
import pytest

from recon import Geometry
from recon.data.anatomy import anatomy_images
from recon.data.evaluation_phantoms import overlapping_ellipses, pelvis_phantom, polygon_phantom
from recon.data.families import (
    FAMILIES,
    PHANTOMS,
    PhantomSource,
    check_families,
    family,
    phantom,
    recorded_families,
)
from recon.data.training_phantoms import mixed_phantom
from recon.physics import hu_to_normalized

GEOMETRY = Geometry.parallel(image_size=32, num_angles=10, num_detectors=45)
AIR = hu_to_normalized(-1000.0)


def test_every_family_has_a_role_and_the_roles_are_the_designed_ones():
    roles = {name: f.role for name, f in FAMILIES.items()}
    assert {name for name, role in roles.items() if role == "training"} == {"mixed", "mixed-grain", "ellipses"}
    assert {name for name, role in roles.items() if role == "validation"} == {"pelvis", "polygons"}
    assert {name for name, role in roles.items() if role == "test"} == {
        "overlapping-ellipses", "shepp-logan", "forbild", "anatomy"}
    assert PHANTOMS == tuple(FAMILIES)
    with pytest.raises(ValueError, match="phantom family: expected one of"):
        family("disk")


@pytest.mark.parametrize("name", PHANTOMS)
def test_every_family_draws_reproducible_images_in_range(name):
    source = PhantomSource(name, GEOMETRY, seed=3)
    first, second = source(0), source(1)
    assert first.shape == (32, 32) and first.dtype == np.float32 and 0 <= first.min() and first.max() <= 1
    np.testing.assert_array_equal(first, PhantomSource(name, GEOMETRY, seed=3)(0))
    if FAMILIES[name].kind == "fixed":
        np.testing.assert_array_equal(first, second)
    else:
        assert not np.array_equal(first, second)


def test_sources_take_several_families_in_turn_and_cycle_a_collection():
    source = PhantomSource(("pelvis", "anatomy"), GEOMETRY, seed=0)
    assert [source.family_of(i) for i in range(4)] == ["pelvis", "anatomy", "pelvis", "anatomy"]
    crops, _ = anatomy_images(GEOMETRY)
    np.testing.assert_array_equal(source(1), crops[0])
    np.testing.assert_array_equal(source(3), crops[1])
    np.testing.assert_array_equal(PhantomSource("anatomy", GEOMETRY, seed=0)(len(crops) + 2), crops[2])
    np.testing.assert_array_equal(phantom("anatomy", GEOMETRY, seed=4), crops[4])
    with pytest.raises(ValueError, match="at least one name"):
        PhantomSource((), GEOMETRY, seed=0)


def test_phantom_dispatches_to_each_generator_with_its_seed():
    np.testing.assert_array_equal(phantom("mixed", GEOMETRY, seed=5), mixed_phantom(32, seed=5))
    np.testing.assert_array_equal(phantom("pelvis", GEOMETRY, seed=5), pelvis_phantom(32, seed=5))
    np.testing.assert_array_equal(phantom("polygons", GEOMETRY, seed=5), polygon_phantom(32, seed=5))
    np.testing.assert_array_equal(phantom("overlapping-ellipses", GEOMETRY, seed=5), overlapping_ellipses(32, seed=5))
    with pytest.raises(ValueError, match="random: pass a seed"):
        phantom("pelvis", GEOMETRY)


def test_evaluation_families_are_not_drawn_by_the_training_family():
    training = np.stack([mixed_phantom(32, seed=s) for s in range(40)])
    for name in ("pelvis", "polygons", "overlapping-ellipses"):
        for s in range(3):
            image = phantom(name, GEOMETRY, seed=100 + s)
            assert np.abs(training - image).mean(axis=(1, 2)).min() > 0.01, name


def test_validation_families_have_bodies_on_air_and_pelvises_have_bone():
    for s in range(6):
        pelvis = pelvis_phantom(48, seed=s)
        assert (pelvis > hu_to_normalized(500.0)).any(), "hips and sacrum are bone"
        polygons = polygon_phantom(48, seed=s)
        assert np.mean(polygons > AIR + 0.01) > 0.1 and np.isclose(polygons, AIR).any()


def test_overlapping_ellipses_add_their_contrasts():
    image = overlapping_ellipses(64, seed=2, mean_count=60, supersampling=1)
    body = image > AIR + 0.01
    values = np.unique(image[body].round(6))
    assert len(values) > 30, "sums of many overlapping contrasts give many distinct values"
    empty = overlapping_ellipses(64, seed=2, mean_count=0, supersampling=1)
    assert len(np.unique(empty[empty > AIR + 0.01].round(6))) == 1


def test_check_families_refuses_evaluation_families_and_passes_user_data():
    check_families(["mixed", "my-dicom-scans"], ("training",), "training data")
    with pytest.raises(ValueError, match=r"training data: the families \['forbild \(test\)'\] are reserved"):
        check_families(["mixed", "forbild"], ("training",), "training data")
    with pytest.raises(ValueError, match="pelvis"):
        check_families(["pelvis"], ("training",), "training data")
    assert recorded_families({"phantom": "mixed"}) == ("mixed",)
    assert recorded_families({"phantom": ["pelvis", "polygons"]}) == ("pelvis", "polygons")
    assert recorded_families({"source": "dicom"}) == ()
