"""recon.data.hdf5_guard: libhdf5's crashes and endless loops on damaged files become errors."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

import recon
from recon.data import hdf5_guard
from recon.data.datasets import PairedDataset
from recon.data.hdf5 import write_paired

GEOMETRY = recon.Geometry.parallel(image_size=(9, 7), num_angles=5, num_detectors=11)


@pytest.fixture
def paired_file(tmp_path):
    rng = np.random.default_rng(0)
    return write_paired(tmp_path / "train.h5", rng.random((3, 9, 7), dtype=np.float32),
                        rng.random((3, 5, 11), dtype=np.float32), geometry=GEOMETRY, physics={"photons": 4096})


def test_an_intact_file_passes_the_probe_in_milliseconds(paired_file):
    start = time.perf_counter()
    hdf5_guard.probe_metadata(paired_file)
    assert len(PairedDataset(paired_file)) == 3
    assert time.perf_counter() - start < hdf5_guard.PROBE_TIMEOUT_S


def test_metadata_that_hang_the_reader_give_an_error_naming_the_file(paired_file, monkeypatch):
    monkeypatch.setattr(hdf5_guard, "_read_metadata", lambda path: time.sleep(60))  # what libhdf5 did
    with pytest.raises(ValueError, match=rf"{paired_file}: not a readable HDF5 file \(damaged\?\): reading its "
                                         r"metadata did not finish in 0.2 s"):
        hdf5_guard.probe_metadata(paired_file, timeout_s=0.2)


def test_metadata_that_crash_libhdf5_give_an_error_naming_the_file(paired_file, monkeypatch):
    monkeypatch.setattr(hdf5_guard, "_read_metadata", lambda path: os.kill(os.getpid(), signal.SIGSEGV))
    with pytest.raises(ValueError, match=rf"{paired_file}: .*reading its metadata crashes libhdf5 \(SIGSEGV\)"):
        hdf5_guard.probe_metadata(paired_file)


def test_errors_in_the_probe_are_left_to_the_callers_own_reading(tmp_path):
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(b"not hdf5")
    hdf5_guard.probe_metadata(damaged)  # no error here ...
    with pytest.raises(ValueError, match=rf"{damaged}: not a readable HDF5 file"):
        PairedDataset(damaged)  # ... but from the reader, with its own message

