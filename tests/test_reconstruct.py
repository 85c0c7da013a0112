"""`recon reconstruct` and recon.reconstruction: inputs, methods, outputs, resume and bad input."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

import recon
from recon.cli import main
from recon.data.dicom import load_dicom
from recon.data.families import phantom
from recon.data.hdf5 import write_paired
from recon.data.lodopab import write_lodopab
from recon.geometry import Geometry
from recon.physics import MU_MAX, counts_to_post_log, hu_to_normalized, simulate
from recon.reconstruction import IMAGES_FORMAT, reconstruct, reconstruct_to_file, sinogram_input

GEOMETRY = Geometry.parallel(image_size=32, num_angles=40, num_detectors=47)


@pytest.fixture(scope="module")
def scan():
    """Five ground truths and their simulated post-log sinograms (N, A, D) at 4096 photons."""
    images = np.stack([phantom("pelvis", GEOMETRY, seed=i) for i in range(5)])
    A = recon.RayTransform(GEOMETRY)
    sinograms = simulate(torch.from_numpy(images)[:, None], A, photons=4096, seed=0)[:, 0].numpy()
    return images, sinograms


def _fbp(sinograms: np.ndarray) -> np.ndarray:
    """recon's FBP of the sinograms, called directly: the reference of the reconstruct path."""
    A = recon.RayTransform(GEOMETRY)
    return recon.fbp(torch.from_numpy(sinograms)[:, None], A)[:, 0].numpy()


def _cli(capsys, *args) -> tuple[int, str]:
    status = main(["reconstruct", *map(str, args), "--quiet"])
    return status, capsys.readouterr().err


def test_array_reconstruction_equals_the_method_called_directly(scan):
    _, sinograms = scan
    images = reconstruct(sinogram_input(sinograms, GEOMETRY), "fbp", batch_size=2)
    np.testing.assert_allclose(images, _fbp(sinograms), atol=1e-6)
    single = reconstruct(sinogram_input(sinograms[0], GEOMETRY), "fbp")
    np.testing.assert_allclose(single[0], images[0], atol=1e-6)


def test_counts_are_converted_with_lodopab_log_step(scan):
    _, sinograms = scan
    counts = np.round(4096 * np.exp(-sinograms * MU_MAX))
    expected = reconstruct(sinogram_input(
        counts_to_post_log(torch.from_numpy(counts), photons=4096).numpy(), GEOMETRY), "fbp")
    got = reconstruct(sinogram_input(counts, GEOMETRY, counts=True, photons=4096), "fbp")
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_npy_to_hdf5_records_method_geometry_and_version(scan, tmp_path, capsys):
    _, sinograms = scan
    np.save(tmp_path / "y.npy", sinograms)
    (tmp_path / "g.json").write_text(GEOMETRY.to_json())
    status, err = _cli(capsys, tmp_path / "y.npy", "--geometry", tmp_path / "g.json",
                       "--method", "fbp:filter=hann", "--output", tmp_path / "x.h5", "--batch-size", 2)
    assert status == 0 and "wrote" in err
    expected = reconstruct(sinogram_input(sinograms, GEOMETRY), "fbp:filter=hann")
    with h5py.File(tmp_path / "x.h5") as h5:
        np.testing.assert_allclose(h5["images"][...], expected, atol=1e-6)
        assert h5.attrs["format"] == IMAGES_FORMAT and h5.attrs["method"] == "fbp:filter=hann"
        assert json.loads(h5.attrs["parameters"]) == {"filter": "hann"}
        assert Geometry.from_json(h5.attrs["geometry"]) == GEOMETRY
        assert h5.attrs["recon_version"] == recon.__version__
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json", "x.h5", "y.npy"]  # no resume folder left


def test_hdf5_with_and_without_ground_truths_and_lodopab_folders(scan, tmp_path):
    images, sinograms = scan
    paired = write_paired(tmp_path / "paired.h5", images, sinograms, geometry=GEOMETRY, physics={"photons": 4096})
    expected = _fbp(sinograms)
    np.testing.assert_allclose(reconstruct(paired, "fbp"), expected, atol=1e-6)
    only = write_paired(tmp_path / "only.h5", images, sinograms, geometry=GEOMETRY, physics={"photons": 4096})
    with h5py.File(only, "a") as h5:
        del h5["images"]
    np.testing.assert_allclose(reconstruct(only, "fbp"), expected, atol=1e-6)
    (tmp_path / "lodopab").mkdir()
    write_lodopab(tmp_path / "lodopab", "validation", sinograms, images)
    lodopab = reconstruct(tmp_path / "lodopab", "fbp", part="validation")
    assert lodopab.shape == images.shape  # LoDoPaB folders: parallel geometry inferred from the shapes


def test_dicom_export_round_trips_through_load_dicom(scan, tmp_path):
    _, sinograms = scan
    source = sinogram_input(sinograms, GEOMETRY)
    reconstruct_to_file(source, "fbp", tmp_path / "x.h5")
    reconstruct_to_file(source, "fbp", tmp_path / "series", format="dicom")
    with h5py.File(tmp_path / "x.h5") as h5:
        images = h5["images"][...]
    back = load_dicom(tmp_path / "series", GEOMETRY)
    clipped = np.clip(images, 0, 1)  # load_dicom clips to LoDoPaB's [0, 1] as hu_to_normalized does
    one_hu = float(hu_to_normalized(np.float64(1.0), clip=False) - hu_to_normalized(np.float64(0.0), clip=False))
    np.testing.assert_allclose(back, clipped, atol=0.5 * one_hu + 1e-6)  # DICOM stores whole HU


def test_interrupted_run_resumes_without_redoing_finished_chunks(scan, tmp_path, monkeypatch):
    from recon.reconstruction import run as module

    _, sinograms = scan
    source = sinogram_input(sinograms, GEOMETRY)
    calls, interrupt = [], [True]
    real = module._chunks

    def counting(data, method, batch_size, device, skip=frozenset(), progress=False):
        for start, images in real(data, method, batch_size, device, skip, progress):
            calls.append(start)
            if len(calls) == 2 and interrupt.pop():
                raise KeyboardInterrupt
            yield start, images

    monkeypatch.setattr(module, "_chunks", counting)
    output = tmp_path / "x.h5"
    with pytest.raises(KeyboardInterrupt):
        reconstruct_to_file(source, "fbp", output, batch_size=2)
    assert not output.exists() and (tmp_path / ".x.h5.resume").is_dir()
    calls.clear()
    interrupt.append(False)
    reconstruct_to_file(source, "fbp", output, batch_size=2)
    assert calls == [2, 4]  # chunk 0 was kept, chunk 2 (interrupted) and 4 are done now
    with h5py.File(output) as h5:
        np.testing.assert_allclose(h5["images"][...], _fbp(sinograms), atol=1e-6)
    assert not (tmp_path / ".x.h5.resume").exists()


def test_a_resume_folder_of_another_method_is_discarded(scan, tmp_path):
    _, sinograms = scan
    folder = tmp_path / ".x.h5.resume"
    folder.mkdir()
    (folder / "state.json").write_text(json.dumps({"method": "something else"}))
    np.save(folder / "chunk_000000000.npy", np.zeros((2, 32, 32), np.float32))
    reconstruct_to_file(sinogram_input(sinograms, GEOMETRY), "fbp", tmp_path / "x.h5", batch_size=2)
    with h5py.File(tmp_path / "x.h5") as h5:
        np.testing.assert_allclose(h5["images"][:2], _fbp(sinograms[:2]), atol=1e-6)


@pytest.mark.parametrize("kind, message", [("shape", "expected images"), ("nan", "NaN")])
def test_a_custom_method_that_fails_is_named(scan, tmp_path, kind, message):
    _, sinograms = scan
    module = tmp_path / f"broken_{kind}.py"
    module.write_text("import torch\n"
                      "def method(y, A):\n"
                      + ("    return torch.zeros(len(y), 1, 8, 8)\n" if kind == "shape" else
                         "    return torch.full((len(y), 1, *A.geometry.image_shape), float('nan'))\n"))
    with pytest.raises(ValueError, match=message) as error:
        reconstruct_to_file(sinogram_input(sinograms, GEOMETRY), f"{module}:method", tmp_path / "x.h5")
    assert "method" in str(error.value) and f"broken_{kind}.py" in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [module.name]  # nothing half-written


@pytest.mark.parametrize("case, expected", [
    ("suffix", "expected a suffix"),
    ("shape", "expected sinograms (N, 40, 47)"),
    ("nan", "NaN"),
    ("negative", "negative"),
    ("counts-without-photons", "photon count N0"),
    ("exists", "exists"),
    ("no-folder", "no such folder"),
    ("checkpoint-geometry", "checkpoint was trained on"),
    ("input-suffix", "expected a recon HDF5 file"),
    ("no-geometry", "need a geometry"),
])
def test_bad_input_is_one_line_and_status_2_leaving_nothing(scan, tmp_path, capsys, case, expected):
    _, sinograms = scan
    data = {"shape": sinograms[:, :, :40], "nan": np.where(np.arange(47) == 3, np.nan, sinograms),
            "negative": -np.ones_like(sinograms)}.get(case, sinograms)
    np.save(tmp_path / "y.npy", data)
    (tmp_path / "y.txt").write_text("not a sinogram")
    (tmp_path / "g.json").write_text(GEOMETRY.to_json())
    output = {"suffix": tmp_path / "x.jpeg", "no-folder": tmp_path / "missing" / "x.h5"}.get(case, tmp_path / "x.h5")
    if case == "exists":
        output.write_bytes(b"keep me")
    args = [tmp_path / ("y.txt" if case == "input-suffix" else "y.npy"), "--method",
            "lpd-small" if case == "checkpoint-geometry" else "fbp", "--output", output]
    if case != "no-geometry":
        args += ["--geometry", tmp_path / "g.json"]
    if case in ("negative", "counts-without-photons"):
        args += ["--counts"] + (["--photons", 4096] if case == "negative" else [])
    before = sorted(p.name for p in tmp_path.iterdir())
    status, err = _cli(capsys, *args)
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1 and expected in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if case == "exists":
        assert output.read_bytes() == b"keep me"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a GPU")
def test_cuda_without_a_gpu_is_refused(scan, tmp_path, capsys):
    np.save(tmp_path / "y.npy", scan[1])
    status, err = _cli(capsys, tmp_path / "y.npy", "--geometry", "parallel", "--image-size", 32, "--num-angles", 40,
                       "--num-detectors", 47, "--method", "fbp", "--output", tmp_path / "x.h5", "--device", "cuda")
    assert status == 2 and "no CUDA GPU" in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_reconstruction_equals_cpu(scan):
    source = sinogram_input(scan[1], GEOMETRY)
    np.testing.assert_allclose(reconstruct(source, "fbp", device="cuda"), reconstruct(source, "fbp"), atol=1e-4)


def test_an_existing_dicom_series_is_refused_before_any_work(scan, tmp_path, capsys):
    np.save(tmp_path / "y.npy", scan[1])
    (tmp_path / "series").mkdir()
    status, err = _cli(capsys, tmp_path / "y.npy", "--geometry", "parallel", "--image-size", 32, "--num-angles", 40,
                       "--num-detectors", 47, "--method", "fbp", "--output", tmp_path / "series.dcm")
    assert status == 2 and "series: exists" in err
    assert not any(p.name.endswith(".resume") for p in tmp_path.iterdir())


def test_ctrl_c_exits_130_with_no_output_and_the_next_run_resumes(scan, tmp_path, capsys, monkeypatch):
    from recon.reconstruction import run as module

    np.save(tmp_path / "y.npy", scan[1])
    args = [tmp_path / "y.npy", "--geometry", "parallel", "--image-size", 32, "--num-angles", 40,
            "--num-detectors", 47, "--method", "fbp", "--output", tmp_path / "x.nii.gz", "--batch-size", 2]
    real = module._chunks

    def interrupted(*a, **k):
        yield next(real(*a, **k))
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "_chunks", interrupted)
    status, _ = _cli(capsys, *args)
    assert status == 130 and not (tmp_path / "x.nii.gz").exists()
    assert [p.name for p in (tmp_path / ".x.nii.gz.resume").iterdir() if p.suffix == ".npy"] == ["chunk_000000000.npy"]
    monkeypatch.setattr(module, "_chunks", real)
    status, _ = _cli(capsys, *args)
    assert status == 0 and (tmp_path / "x.nii.gz").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nii.gz", "y.npy"]
