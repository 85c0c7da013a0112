"""The diverse `mixed` training family."""

from __future__ import annotations

import numpy as np
import pytest

from recon import Geometry
from recon.data.families import PhantomSource, phantom
from recon.data.phantoms import forbild, shepp_logan
from recon.data.training_phantoms import MAGNIFIED_FRACTION, MIXED_LAYOUTS, mixed_phantom
from recon.physics import hu_to_normalized


def test_mixed_phantoms_are_seeded_and_in_range():
    first = mixed_phantom((40, 32), seed=3)
    assert first.shape == (40, 32) and first.dtype == np.float32
    np.testing.assert_array_equal(first, mixed_phantom((40, 32), seed=3))
    assert not np.array_equal(first, mixed_phantom((40, 32), seed=4))
    assert 0 <= first.min() and first.max() <= 1


def _border_tissue(image: np.ndarray) -> float:
    """Share of the pixels on the field's edge that are not air."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return float(np.mean(border > hu_to_normalized(-1000.0) + 0.01))


@pytest.mark.parametrize("layout", MIXED_LAYOUTS)
def test_every_layout_draws_a_body_on_air(layout):
    images = np.stack([mixed_phantom(64, seed=s, layouts=[layout]) for s in range(3)])
    body = images > hu_to_normalized(-1000.0) + 0.01
    assert np.all(body.mean(axis=(1, 2)) > 0.1), "the body covers a good part of the field of view"
    assert np.any(~body), "there is air around or beside the body"
    assert len({im.tobytes() for im in images}) == 3


def test_about_half_of_the_phantoms_are_close_ups_that_cross_the_field_edge():
    # a close-up (MAGNIFIED_FRACTION of the draws) shows tissue on the field's edge, as LoDoPaB's crops do;
    # nearly every other body lies wholly inside the field, with air all around it
    for layout in MIXED_LAYOUTS:
        border = np.array([_border_tissue(mixed_phantom(48, seed=s, layouts=[layout])) for s in range(60)])
        crossing = border > 0.05
        assert abs(crossing.mean() - MAGNIFIED_FRACTION) < 0.15, f"{layout}: {crossing.mean():.2f} cross the edge"
        assert np.mean(border == 0) > 0.9 * (1 - MAGNIFIED_FRACTION) - 0.15, f"{layout}: too few bodies inside"


def test_many_skulls_have_two_tables_around_a_less_dense_diploe():
    bone = hu_to_normalized(500.0)
    plateaus = []  # of the untextured skulls: CT numbers held by over 10 % of the bone pixels each
    for s in range(80):
        head = mixed_phantom(128, seed=s, layouts=["head"], supersampling=1)
        values, counts = np.unique(head[head > bone].round(4), return_counts=True)
        if len(values) < 0.1 * counts.sum():
            plateaus.append((counts > 0.1 * counts.sum()).sum())
    # close-ups cut tables off and clutter adds calcifications, so two plateaus show in some, not all
    assert len(plateaus) >= 20 and 0.35 < np.mean(np.array(plateaus) >= 2) < 0.9


def test_the_family_varies_in_content_and_contrast():
    images = np.stack([mixed_phantom(48, seed=s) for s in range(24)])
    # bone (> 500 HU) and lung or gas (< -500 HU) inside the body both occur across the family
    assert np.mean((images > hu_to_normalized(500.0)).any(axis=(1, 2))) > 0.3
    inside = images > hu_to_normalized(-990.0)
    assert np.mean([(im[m] < hu_to_normalized(-500.0)).any() for im, m in zip(images, inside)]) > 0.3
    # about half textured (most soft-tissue pixels take a value of their own), the rest piecewise constant
    soft = (images > hu_to_normalized(-50.0)) & (images < hu_to_normalized(100.0))
    textured = np.array([len(np.unique(im[m].round(5))) > 0.5 * m.sum() for im, m in zip(images, soft)])
    assert 0.25 < textured.mean() < 0.75
    # skulls brighter than the old 1600 HU ceiling occur
    heads = np.stack([mixed_phantom(48, seed=s, layouts=["head"]) for s in range(8)])
    assert (heads.max(axis=(1, 2)) > hu_to_normalized(1600.0)).any()


def test_the_evaluation_phantoms_are_not_in_the_family():
    g = Geometry.parallel(image_size=32, num_angles=10, num_detectors=45)
    held_out = [shepp_logan(32), forbild(g, supersampling=1)]
    family = [mixed_phantom(32, seed=s) for s in range(20)]
    for image in held_out:
        closest = min(np.abs(image - member).mean() for member in family)
        assert closest > 0.01


def test_phantom_dispatch_and_sources_draw_mixed_per_sample():
    g = Geometry.parallel(image_size=32, num_angles=10, num_detectors=45)
    np.testing.assert_array_equal(phantom("mixed", g, seed=5), mixed_phantom(32, seed=5))
    source = PhantomSource("mixed", g, seed=1, stream=1)
    assert not np.array_equal(source(0), source(1))
    np.testing.assert_array_equal(source(1), PhantomSource("mixed", g, seed=1, stream=1)(1))
    with pytest.raises(ValueError, match="random: pass a seed"):
        phantom("mixed", g)


def test_bad_arguments_name_what_was_expected():
    with pytest.raises(ValueError, match="layouts among"):
        mixed_phantom(32, seed=0, layouts=["lungs"])
    with pytest.raises(ValueError, match="supersampling >= 1"):
        mixed_phantom(32, seed=0, supersampling=0)


def test_mixed_grain_is_mixed_plus_fine_grain_inside_the_body_only():
    from recon.data.training_phantoms import GRAIN_CORRELATION, GRAIN_HU
    from recon.physics import normalized_to_hu

    deviations = []
    for seed in range(40):
        plain = mixed_phantom(64, seed=seed)
        grainy = mixed_phantom(64, seed=seed, grain=True)
        np.testing.assert_array_equal(grainy, mixed_phantom(64, seed=seed, grain=True))  # seeded
        difference = normalized_to_hu(grainy.astype(np.float64)) - normalized_to_hu(plain.astype(np.float64))
        air = plain <= hu_to_normalized(-1000.0)
        assert np.abs(difference[air & (grainy <= hu_to_normalized(-1000.0))]).max(initial=0) == 0
        inside = plain > hu_to_normalized(-990.0)
        deviations.append(difference[inside].std())
    # the same phantom underneath (its draws come first), a grain of GRAIN_HU per pixel on top
    assert GRAIN_HU[0] * 0.5 < np.median(deviations) < GRAIN_HU[1]
    assert 0 < GRAIN_CORRELATION[0] < GRAIN_CORRELATION[1] <= 1.0
    source = PhantomSource("mixed-grain", Geometry.parallel(image_size=32), seed=0)
    assert source(0).shape == (32, 32)
