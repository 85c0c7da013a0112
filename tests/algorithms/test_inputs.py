"""Every solver refuses non-finite sinograms and starting images, and parameters out of range."""

from __future__ import annotations

import math

import pytest
import torch

import recon
from recon.algorithms import METHODS

SOLVERS = sorted(METHODS)


@pytest.fixture(scope="module")
def tiny():
    """A 17 x 11 parallel-beam operator (7 angles, 23 bins) and a finite sinogram of two images."""
    A = recon.RayTransform(recon.Geometry.parallel(image_size=(17, 11), num_angles=7, num_detectors=23))
    return A, A(torch.rand(2, 1, 17, 11, generator=torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_sinograms_are_refused_with_count_and_position(tiny, name, bad):
    A, y = tiny
    y = y.clone()
    y[1, 0, 3, 5] = bad
    y[1, 0, 6, 2] = bad
    with pytest.raises(ValueError, match=r"sinogram: expected finite values, got 2 NaN or inf of 322, "
                                         r"the first at index \(1, 0, 3, 5\)"):
        METHODS[name](y, A)


def test_negative_sinogram_values_are_accepted(tiny):
    A, y = tiny
    assert torch.isfinite(recon.fbp(y - 0.01, A)).all()  # noisy post-log data have some


@pytest.mark.parametrize("name", ["sirt", "cgls", "landweber", "tv"])
def test_non_finite_starting_images_are_refused(tiny, name):
    A, y = tiny
    x0 = torch.zeros(2, 1, 17, 11)
    x0[0, 0, 4, 9] = math.nan
    with pytest.raises(ValueError, match=r"x0: expected finite values, got 1 NaN or inf of 374, "
                                         r"the first at index \(0, 0, 4, 9\)"):
        METHODS[name](y, A, x0=x0, iterations=1)


@pytest.mark.parametrize(("name", "params", "message"), [
    ("tv", {"weight": math.nan}, r"weight: expected a finite number >= 0, got nan"),
    ("tv", {"weight": "abc"}, r"weight: expected a finite number >= 0, got 'abc'"),
    ("tv", {"weight": -1e-4}, r"weight: expected a finite number >= 0, got -0.0001"),
    ("tv", {"step_ratio": math.inf}, r"step_ratio: expected a finite number > 0, got inf"),
    ("tv", {"mu_max": 0.0}, r"mu_max: expected a finite number > 0, got 0.0"),
    ("sirt", {"relaxation": math.nan}, r"relaxation: expected a finite number > 0 and < 2, got nan"),
    ("landweber", {"relaxation": 2}, r"relaxation: expected a finite number > 0 and < 2, got 2"),
    ("cgls", {"tol": math.nan}, r"tol: expected a finite number >= 0, got nan"),
    ("fbp", {"frequency_scaling": math.nan}, r"frequency_scaling: expected a finite number > 0 and <= 1, got nan"),
    ("fbp", {"frequency_scaling": "0.5"}, r"frequency_scaling: expected a finite number > 0 and <= 1, got '0.5'"),
])
def test_parameters_must_be_finite_and_in_range(tiny, name, params, message):
    A, y = tiny
    with pytest.raises(ValueError, match=message):
        METHODS[name](y, A, **params)


@pytest.mark.parametrize(("name", "params", "message"), [
    ("tv", {"weight": "abc"}, r"tv: weight: expected a finite number >= 0, got 'abc'"),
    ("tv", {"weight": math.nan}, r"tv: weight: expected a finite number >= 0, got nan"),
    ("tv", {"iterations": 2.5}, r"tv: iterations: expected a non-negative integer, got 2.5"),
    ("tv", {"nonnegativity": "yes"}, r"tv: nonnegativity: expected true or false, got 'yes'"),
    ("fbp", {"filter": "hanning"}, r"fbp: filter: expected one of \('ram-lak', .*'hann'\), got 'hanning'"),
    ("sirt", {"relaxation": 3}, r"sirt: relaxation: expected a finite number > 0 and < 2, got 3"),
])
def test_a_reconstructor_checks_its_parameters_when_bound(tiny, name, params, message):
    A, _ = tiny
    with pytest.raises(ValueError, match=message):
        recon.algorithms.BoundMethod(name, A, params)
