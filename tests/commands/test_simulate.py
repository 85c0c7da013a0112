"""`recon simulate`: split files, reproducibility, refusal to overwrite, nothing left on failure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydicom.data import get_testdata_file

import recon.commands.simulate as command
from recon.cli import main
from recon.data.datasets import PairedDataset
from recon.data.simulated import PhantomDataset, Simulation

TINY = ["--image-size", "15", "--num-angles", "8", "--num-detectors", "21", "--factor", "2", "--quiet"]


def simulate(output, *extra: str) -> int:
    return main(["simulate", str(output), *TINY, *extra])


def test_writes_one_self_describing_file_per_split(tmp_path):
    assert simulate(tmp_path, "--samples", "11", "--splits", "0.6,0.2,0.2", "--photons", "1000", "--seed", "4") == 0
    sizes = {split: len(PairedDataset(tmp_path / f"{split}.h5")) for split in ("train", "validation", "test")}
    assert sizes == {"train": 7, "validation": 2, "test": 2}
    train = PairedDataset(tmp_path / "train.h5")
    assert train.geometry.sinogram_shape == (8, 21) and train.geometry.image_shape == (15, 15)
    assert train.physics["photons"] == 1000 and train.physics["seed"] == 4 and train.physics["split"] == "train"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.h5", "train.h5", "validation.h5"]


def test_files_match_the_on_the_fly_phantom_dataset(tmp_path):
    assert simulate(tmp_path, "--samples", "5", "--splits", "1,0,0", "--photons", "1000", "--seed", "2") == 0
    stored = PairedDataset(tmp_path / "train.h5")
    live = PhantomDataset(stored.geometry, 5, simulation=Simulation(photons=1000, factor=2, seed=2))
    for index in (0, 4):
        assert torch.equal(stored[index][0], live[index][0]) and torch.equal(stored[index][1], live[index][1])


def test_several_families_in_turn_with_labels_and_a_dose_range(tmp_path):
    assert simulate(tmp_path, "--samples", "6", "--splits", "1,0,0", "--phantom", "pelvis", "polygons",
                    "--photons", "1000", "--photons-max", "16000", "--seed", "2") == 0
    stored = PairedDataset(tmp_path / "train.h5")
    assert stored.groups == ("pelvis", "polygons") * 3
    assert stored.physics["phantom"] == ["pelvis", "polygons"] and stored.physics["photons_max"] == 16000
    simulation = Simulation(photons=1000, photons_max=16000, factor=2, seed=2)
    live = PhantomDataset(stored.geometry, 6, phantom_name=("pelvis", "polygons"), simulation=simulation)
    for index in (0, 5):
        assert torch.equal(stored[index][0], live[index][0]) and torch.equal(stored[index][1], live[index][1])


def test_same_arguments_give_identical_files_whatever_the_batch_size(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert simulate(first, "--samples", "20", "--batch-size", "4") == 0
    assert simulate(second, "--samples", "20", "--batch-size", "3") == 0
    for split in ("train", "validation", "test"):
        assert (first / f"{split}.h5").read_bytes() == (second / f"{split}.h5").read_bytes()
    assert simulate(tmp_path / "c", "--samples", "20", "--seed", "1") == 0
    assert (tmp_path / "c" / "train.h5").read_bytes() != (first / "train.h5").read_bytes()


def test_refuses_to_overwrite_unless_asked(tmp_path, capsys):
    assert simulate(tmp_path, "--samples", "5") == 0
    before = (tmp_path / "train.h5").read_bytes()
    capsys.readouterr()
    assert simulate(tmp_path, "--samples", "5", "--seed", "9") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--overwrite" in error and "train.h5" in error
    assert (tmp_path / "train.h5").read_bytes() == before
    assert simulate(tmp_path, "--samples", "5", "--seed", "9", "--overwrite") == 0
    assert (tmp_path / "train.h5").read_bytes() != before


@pytest.mark.parametrize("failure, status", [(KeyboardInterrupt, 130), (ValueError, 2)])
def test_ctrl_c_or_an_error_in_the_last_split_leaves_no_file(tmp_path, monkeypatch, failure, status):
    real = command.simulate_into

    def fail_on_test_split(writer, image_source, **kwargs):
        if kwargs["stream"] == 2:
            writer.write(0, *[np.zeros((1, *s), np.float32) for s in
                              (writer.geometry.image_shape, writer.geometry.sinogram_shape)])
            raise failure("stop")
        real(writer, image_source, **kwargs)

    monkeypatch.setattr(command, "simulate_into", fail_on_test_split)
    assert simulate(tmp_path / "out", "--samples", "10") == status
    assert list(tmp_path.iterdir()) == []  # the folder this run created is gone too


def test_dicom_slices_as_ground_truth(tmp_path):
    status = main(["simulate", str(tmp_path), "--dicom", get_testdata_file("CT_small.dcm"), "--splits", "0,0,1",
                   "--image-size", "64", "--num-angles", "10", "--num-detectors", "91", "--factor", "2",
                   "--fit", "resample", "--quiet"])
    assert status == 0
    dataset = PairedDataset(tmp_path / "test.h5")
    assert len(dataset) == 1 and dataset.physics["source"] == "dicom" and dataset.physics["fit"] == "resample"
    assert dataset[0][1].max() > 0.2  # the slice, not an empty image
    assert not (tmp_path / "train.h5").exists()


@pytest.mark.parametrize("arguments, message", [
    (["--splits", "1,2"], "--splits"),
    (["--samples", "0"], "--samples"),
    (["--angle-step", "0"], "step"),
    (["--photons", "-3", "--samples", "2"], "photons"),
    (["--photons", "4096", "--photons-max", "1024"], "--photons-max: expected a finite number >= 4096"),
    (["--photons", "inf"], "photons"),
    (["--dicom", "/nonexistent/folder"], "/nonexistent/folder"),
])
def test_bad_arguments_give_one_line_and_status_2(tmp_path, capsys, arguments, message):
    assert simulate(tmp_path / "out", *arguments) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error and "Traceback" not in error
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_a_real_ctrl_c_or_kill_mid_projection_exits_130_and_leaves_no_file(tmp_path, stop):
    """SIGINT or SIGTERM to a running ``recon simulate`` while batches are projected on the thread pool."""
    import os
    import re
    import select
    import signal
    import subprocess
    import sys
    import time

    output = tmp_path / "out"
    process = subprocess.Popen(
        # the default 128x128 preset: each ASTRA job (354x354 fine grid) runs long enough to be interrupted
        [sys.executable, "-m", "recon.cli", "simulate", str(output), "--samples", "2000", "--batch-size", "16"],
        stderr=subprocess.PIPE,
    )
    progress, deadline = b"", time.monotonic() + 60
    while not re.search(rb"[1-9]\d*/2000", progress) and time.monotonic() < deadline:
        if select.select([process.stderr], [], [], 1)[0]:
            progress += os.read(process.stderr.fileno(), 4096)
    time.sleep(0.5)  # a batch has been written: the next one is on the projector's thread pool now
    process.send_signal(getattr(signal, stop))
    remaining = process.communicate(timeout=60)[1]
    assert process.returncode == 130, (progress + remaining)[-500:]
    assert b"recon: interrupted" in remaining
    assert not output.exists()  # nor the folder this run created
