"""Fixtures of the benchmark tests: a tiny odd geometry and its built-in data."""

from __future__ import annotations

import pytest

import recon
from recon.benchmark import builtin_data

#: 17 x 11 image, 7 angles, 23 bins: fast, and non-square to catch transpositions.
GEOMETRY = recon.Geometry.parallel(image_size=(17, 11), num_angles=7, num_detectors=23)


@pytest.fixture(scope="session")
def tiny_levels():
    """Built-in data on :data:`GEOMETRY`: 5 samples at 4096 and at 64 photons."""
    return builtin_data(GEOMETRY, 5, photons=(4096, 64), seed=3)
