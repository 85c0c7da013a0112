"""`recon simulate` and `recon benchmark` refuse bad data, meaningless values and ignored options.

Each refusal: exit status 2, one line on stderr naming the option, file or value
and what was expected, and nothing written.
"""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest

import recon
from recon.cli import main
from recon.data.hdf5 import write_paired

SIMULATE = ["--image-size", "15", "--num-angles", "8", "--num-detectors", "21", "--factor", "2", "--samples", "3",
            "--quiet"]
GEOMETRY = recon.Geometry.parallel(image_size=13, num_angles=7, num_detectors=19)


def refused(capsys, arguments: list[str], message: str) -> None:
    """``recon ARGUMENTS`` exits 2 with one line on stderr that contains ``message``."""
    assert main(arguments) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"recon {arguments[0]}: error:"), err
    assert message in err, err


@pytest.mark.parametrize(("extra", "message"), [
    (["--angle-step", "3"], "--angle-step: expected a divisor of the 8 angles, got 3"),
    (["--photons", "1e300"], "--photons: expected a finite number > 0 and <= 1e+15, got 1e+300"),
    (["--photons", "nan"], "--photons: expected a finite number > 0 and <= 1e+15, got nan"),
    (["--photons-max", "inf"], "--photons-max: expected a finite number > 0 and <= 1e+15, got inf"),
    (["--electronic-noise", "nan"], "--electronic-noise: expected a finite number >= 0, got nan"),
    (["--fit", "lodopab"], "--fit: only for --dicom input, not for phantoms"),
    (["--fit", "crop", "--dequantize"], "--fit, --dequantize: only for --dicom input, not for phantoms"),
])
def test_simulate_refuses_values_and_options_it_would_misuse(tmp_path, capsys, extra, message):
    refused(capsys, ["simulate", str(tmp_path / "out"), *SIMULATE, *extra], message)
    assert not (tmp_path / "out").exists()


@pytest.fixture
def data_file(tmp_path):
    """A recon paired file of 6 tiny samples."""
    rng = np.random.default_rng(0)
    return write_paired(tmp_path / "test.h5", rng.random((6, 13, 13), dtype=np.float32),
                        rng.random((6, 7, 19), dtype=np.float32) * 0.05, geometry=GEOMETRY, physics={"photons": 4096})


def benchmark(output, *extra: str) -> list[str]:
    return ["benchmark", "--output", str(output), "--quiet", "--methods", "fbp", *extra]


def test_benchmark_refuses_a_file_with_nan_or_inf_naming_the_sample(tmp_path, capsys, data_file):
    with h5py.File(data_file, "r+") as h5:
        h5["sinograms"][4, 2, 3] = math.nan
        h5["sinograms"][4, 5, 1] = math.inf
        h5["images"][5, 0, 0] = math.nan
    refused(capsys, benchmark(tmp_path / "out", "--data", str(data_file)),
            "test.h5: dataset 'sinograms', sample 4: expected finite values, got 2 NaN or inf of 133, "
            "the first at index (2, 3)")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("extra", "message"), [
    (["--samples", "100000"], "samples: expected 1 to the 6 samples of {file}, got 100000"),
    (["--part", "validation"], "--part: only for a LoDoPaB folder, not for the file {file}"),
    (["--methods", "tv:weight=abc"], "tv: weight: expected a finite number >= 0, got 'abc'"),
    (["--methods", "tv:weight=nan"], "tv: weight: expected a finite number >= 0, got nan"),
])
def test_benchmark_refuses_what_it_would_quietly_change(tmp_path, capsys, data_file, extra, message):
    refused(capsys, benchmark(tmp_path / "out", "--data", str(data_file), *extra), message.format(file=data_file))
    assert not (tmp_path / "out").exists()


def test_benchmark_part_without_data_is_refused(tmp_path, capsys):
    refused(capsys, benchmark(tmp_path / "out", "--part", "test"), "--part: only for a LoDoPaB folder")
    assert not (tmp_path / "out").exists()
