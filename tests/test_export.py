"""Exports of reconstructions (:mod:`recon.export`), each read back by an independent reader."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import h5py
import numpy as np
import pytest

from recon.data.dicom import load_dicom
from recon.export import EXPORT_FORMATS, dicom_series, export_format, export_images, png
from recon.geometry import Geometry
from recon.physics import hu_to_normalized, normalized_to_hu
from recon.plotting import CT_WINDOWS, ct_window

GEOMETRY = Geometry.parallel(image_size=32)
PIXEL_MM = 1000 * GEOMETRY.pixel_size[0]
#: One HU on the normalised scale (1 / 4071 of its range): the DICOM, TIFF and PNG steps are whole HU or coarser.
HU_STEP = float(hu_to_normalized(np.array(1.0), clip=False) - hu_to_normalized(np.array(0.0), clip=False))


@pytest.fixture
def images() -> np.ndarray:
    """Three 32x32 slices in (0, 1), each with a bright square in the top-left of its upright view."""
    stack = np.random.default_rng(0).uniform(0.2, 0.3, (3, 32, 32)).astype(np.float32)
    stack[:, :8, -8:] = 0.9  # x small (left), y large (top)
    return stack


def export(images, path, **kwargs):
    return export_images(images, GEOMETRY, path, description=kwargs.pop("description", "recon test tv:weight=1e-6"),
                         **kwargs)


def upright_hu(images) -> np.ndarray:
    """``(N, rows, columns)`` HU as matplotlib shows ``image.T`` with ``origin="lower"``: rows top->bottom."""
    return np.flip(normalized_to_hu(images.astype(np.float64)).transpose(0, 2, 1), axis=1)


# ------------------------------------------------------------------------------------------- formats


def test_export_format_from_suffix_or_name():
    assert EXPORT_FORMATS == ("nifti", "dicom", "tiff", "png")
    names = {"a.h5": "hdf5", "a.HDF5": "hdf5", "a.nii": "nifti", "a.nii.gz": "nifti", "a.dcm": "dicom",
             "a.tif": "tiff", "a.TIFF": "tiff", "a.png": "png"}
    assert {name: export_format(name) for name in names} == names
    assert export_format("series", "dicom") == "dicom" and export_format("x.png", "TIFF") == "tiff"


@pytest.mark.parametrize("path, format, got", [("a.xyz", None, "got suffix '.xyz'"), ("series", None, "got suffix ''"),
                                               ("a.png", "jpeg", "got format 'jpeg'")])
def test_unknown_suffix_or_format_is_refused_in_one_line(path, format, got):
    with pytest.raises(ValueError) as error:
        export_format(path, format)
    message = str(error.value)
    assert "\n" not in message and got in message and ".nii.gz" in message and "dicom" in message


def test_hdf5_is_left_to_the_hdf5_writer(images, tmp_path):
    with pytest.raises(ValueError, match="export_images writes nifti, dicom, tiff, png, got 'hdf5'"):
        export(images, tmp_path / "x.h5")


# --------------------------------------------------------------------------------------------- DICOM


def test_dicom_series_round_trips_through_recon_s_reader(images, tmp_path):
    import pydicom

    assert export(images, tmp_path / "s", format="dicom") == [tmp_path / "s"]
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["0001.dcm", "0002.dcm", "0003.dcm"]
    # 1 HU steps: within half a step (plus float32 rounding) of the input, slice order kept
    np.testing.assert_allclose(load_dicom(tmp_path / "s", GEOMETRY), images, rtol=0, atol=HU_STEP / 2 + 1e-6)
    first = [pydicom.dcmread(p) for p in sorted((tmp_path / "s").iterdir())]
    export(images, tmp_path / "t.dcm")  # the .dcm suffix names the folder t
    second = pydicom.dcmread(tmp_path / "t" / "0001.dcm")
    assert len({d.SeriesInstanceUID for d in first}) == 1 and second.SeriesInstanceUID != first[0].SeriesInstanceUID
    assert len({d.SOPInstanceUID for d in first}) == 3 and [d.InstanceNumber for d in first] == [1, 2, 3]
    meta = first[0]
    assert [float(v) for v in meta.PixelSpacing] == pytest.approx([PIXEL_MM, PIXEL_MM])
    assert float(meta.SliceThickness) == pytest.approx(PIXEL_MM)
    assert [float(d.ImagePositionPatient[2]) for d in first] == pytest.approx([0, PIXEL_MM, 2 * PIXEL_MM])
    assert meta.SOPClassUID == pydicom.uid.CTImageStorage and meta.Modality == "CT"
    assert meta.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert list(meta.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert meta.DerivationDescription == meta.SeriesDescription == "recon test tv:weight=1e-6"
    assert str(meta.PatientName) == meta.PatientID == "anonymous"


def test_dicom_pixels_are_the_upright_view(images, tmp_path):
    import pydicom

    export(images, tmp_path / "s", format="dicom")
    dataset = pydicom.dcmread(tmp_path / "s" / "0002.dcm")
    hu = dataset.pixel_array * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
    np.testing.assert_allclose(hu, upright_hu(images)[1], atol=0.5 + 1e-3)
    assert hu[:8, :8].min() > 2000 > hu[8:, 8:].max()  # the bright square in the top-left


@pytest.mark.skipif(shutil.which("dcm2niix") is None, reason="dcm2niix is not installed")
def test_dcm2niix_converts_the_series(images, tmp_path):
    import nibabel

    export(images, tmp_path / "s", format="dicom")
    (tmp_path / "out").mkdir()
    subprocess.run(["dcm2niix", "-z", "n", "-f", "converted", "-o", str(tmp_path / "out"), str(tmp_path / "s")],
                   check=True, capture_output=True)
    converted = nibabel.load(tmp_path / "out" / "converted.nii")
    assert converted.shape == (32, 32, 3)
    assert converted.header.get_zooms() == pytest.approx((PIXEL_MM,) * 3)


# --------------------------------------------------------------------------------------------- NIfTI


@pytest.mark.parametrize("name", ["v.nii.gz", "v.nii"])
def test_nifti_holds_hu_voxel_sizes_and_the_orientation_of_the_docstring(images, tmp_path, name):
    import nibabel

    export(images, tmp_path / name, metadata={"geometry": GEOMETRY.to_json()}, description="é" * 60)
    volume = nibabel.load(tmp_path / name)
    assert volume.shape == (32, 32, 3)
    np.testing.assert_allclose(volume.get_fdata(), normalized_to_hu(images).transpose(1, 2, 0), rtol=1e-6, atol=1e-3)
    assert volume.header.get_zooms() == pytest.approx((PIXEL_MM,) * 3)
    assert volume.header.get_xyzt_units() == ("mm", "sec")
    assert nibabel.aff2axcodes(volume.affine) == ("L", "A", "S")
    assert int(volume.header["qform_code"]) == int(volume.header["sform_code"]) == 1
    assert volume.header["descrip"].tobytes().decode() == "é" * 40  # 80 bytes
    extension = json.loads(volume.header.extensions[0].get_content())
    assert Geometry.from_json(extension["metadata"]["geometry"]) == GEOMETRY and extension["unit"] == "HU"


def test_nifti_and_dicom_put_the_bright_square_at_the_same_place_in_the_patient(images, tmp_path):
    """The square is top-left in the upright view: the patient's right and anterior."""
    import nibabel
    import pydicom

    export(images, tmp_path / "v.nii.gz")
    export(images, tmp_path / "s", format="dicom")
    volume = nibabel.as_closest_canonical(nibabel.load(tmp_path / "v.nii.gz"))  # RAS: i to the right ...
    data = volume.get_fdata()
    ras = np.argwhere(data[..., 1] > 2000)
    centre_ras = volume.affine[:3, :3] @ [*ras.mean(axis=0), 1] + volume.affine[:3, 3]
    assert centre_ras[0] > 0 and centre_ras[1] > 0  # right, anterior
    dataset = pydicom.dcmread(tmp_path / "s" / "0002.dcm")
    rows, columns = np.argwhere(dataset.pixel_array > 2000).mean(axis=0)
    row_spacing, column_spacing = (float(v) for v in dataset.PixelSpacing)
    along_row, along_column = np.reshape([float(v) for v in dataset.ImageOrientationPatient], (2, 3))
    centre_lps = (np.array([float(v) for v in dataset.ImagePositionPatient]) + columns * column_spacing * along_row
                  + rows * row_spacing * along_column)
    np.testing.assert_allclose(centre_lps * [-1, -1, 1], centre_ras, atol=1e-6)


# ---------------------------------------------------------------------------------------------- TIFF


def test_tiff_pages_are_hu_plus_1024_of_the_upright_view(images, tmp_path):
    import tifffile

    export(images, tmp_path / "v.tif", metadata={"method": "tv"})
    with tifffile.TiffFile(tmp_path / "v.tif") as tiff:
        pages = tiff.asarray()
        first = tiff.pages[0]
        description = json.loads(first.description)
        resolution = first.tags["XResolution"].value, first.tags["ResolutionUnit"].value
    assert pages.dtype == np.uint16 and pages.shape == (3, 32, 32)
    np.testing.assert_array_equal(pages, np.rint(upright_hu(images) + 1024).astype(np.uint16))
    assert description["offset"] == 1024 and description["metadata"] == {"method": "tv"}
    assert description["description"] == "recon test tv:weight=1e-6"
    numerator, denominator = resolution[0]
    assert numerator / denominator == pytest.approx(10 / PIXEL_MM, rel=1e-6) and resolution[1] == 3  # per cm


# ----------------------------------------------------------------------------------------------- PNG


def test_named_windows_resolve():
    assert ct_window("soft-tissue") == ct_window("soft") == CT_WINDOWS["soft"]
    assert ct_window("brain").limits == (0.0, 80.0) and ct_window("Lung").level == -600
    assert ct_window("350,50").limits == (-125.0, 225.0)


def test_png_grey_levels_follow_the_window(tmp_path):
    from PIL import Image

    hu = np.array([[-500.0, 40.0], [1000.0, 40.0]])  # x-first: x = 0 holds -500 (bottom) and 40 (top)
    image = hu_to_normalized(hu, clip=False)[None].astype(np.float64)
    geometry = Geometry.parallel(image_size=2)
    export_images(image, geometry, tmp_path / "one.png", description="recon test", window="soft-tissue",
                  metadata={"method": "fbp"})
    with Image.open(tmp_path / "one.png") as preview:
        pixels, text = np.asarray(preview), dict(preview.text)
    assert preview.mode == "L" and pixels.dtype == np.uint8
    assert np.abs(pixels[0].astype(int) - 128).max() <= 1 and pixels[1].tolist() == [0, 255]  # level; below, above
    assert text["Description"] == "recon test" and json.loads(text["Comment"])["metadata"] == {"method": "fbp"}


def test_png_of_several_slices_is_a_folder_of_upright_previews(images, tmp_path):
    from PIL import Image

    assert export(images, tmp_path / "preview.png", window="bone") == [tmp_path / "preview"]
    names = sorted(p.name for p in (tmp_path / "preview").iterdir())
    assert names == ["0001.png", "0002.png", "0003.png"]
    with Image.open(tmp_path / "preview" / "0003.png") as preview:
        pixels = np.asarray(preview)
    assert pixels[:8, :8].min() == 255 and pixels[8:, 8:].max() < 128  # bright square top-left, soft tissue grey


# ----------------------------------------------------------------------------------------- atomicity


def _failing_on_second_slice(write):
    calls = []

    def failing(*args):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        write(*args)

    return failing


@pytest.mark.parametrize("module, path", [(dicom_series, "s.dcm"), (png, "p.png")])
def test_an_interrupted_series_leaves_nothing(images, tmp_path, monkeypatch, module, path):
    monkeypatch.setattr(module, "_write_slice", _failing_on_second_slice(module._write_slice))
    with pytest.raises(KeyboardInterrupt):
        export(images, tmp_path / path)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_replacement_keeps_the_old_series(images, tmp_path, monkeypatch):
    export(images, tmp_path / "s.dcm")
    before = sorted((tmp_path / "s").iterdir())
    monkeypatch.setattr(dicom_series, "_write_slice", _failing_on_second_slice(dicom_series._write_slice))
    with pytest.raises(KeyboardInterrupt):
        export(images, tmp_path / "s.dcm", overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["s"] and sorted((tmp_path / "s").iterdir()) == before


@pytest.mark.parametrize("name, written", [("v.nii.gz", "v.nii.gz"), ("s.dcm", "s"), ("v.tiff", "v.tiff"),
                                           ("p.png", "p")])
def test_existing_output_is_refused_without_overwrite_and_replaced_with_it(images, tmp_path, name, written):
    export(images, tmp_path / name)
    with pytest.raises(FileExistsError, match=f"{re.escape(str(tmp_path / written))}: .* exists"):
        export(images, tmp_path / name)
    brighter = np.clip(images + 0.05, 0, 1)
    export(brighter, tmp_path / name, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [written]
    if name == "s.dcm":
        np.testing.assert_allclose(load_dicom(tmp_path / written, GEOMETRY), brighter, atol=HU_STEP / 2 + 1e-6)


def test_a_missing_parent_folder_is_named(images, tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{re.escape(str(tmp_path / 'missing'))}: no such folder"):
        export(images, tmp_path / "missing" / "s.dcm")


# ------------------------------------------------------------------------------------------ HDF5 input


def test_an_hdf5_dataset_is_read_slice_by_slice(images, tmp_path):
    import tifffile

    with h5py.File(tmp_path / "r.h5", "w") as file:
        file["images"] = images
    with h5py.File(tmp_path / "r.h5", "r") as file:
        export(file["images"], tmp_path / "v.tif")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "v.tif"), np.rint(upright_hu(images) + 1024))


# ------------------------------------------------------------------------------------------ bad input


def test_non_finite_values_are_counted_with_the_first_slice(images, tmp_path):
    images[1, 3, 4] = np.nan
    images[2, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"images: expected finite values, got 2 NaN or inf of 3072, the first in "
                                         r"slice 1"):
        export(images, tmp_path / "v.nii")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shape", [(32, 32), (3, 32, 31), (0, 32, 32), (1, 3, 32, 32)])
def test_a_wrong_shape_is_refused(tmp_path, shape):
    with pytest.raises(ValueError, match=rf"images: expected shape \(N, 32, 32\).*, got {re.escape(str(shape))}"):
        export(np.zeros(shape, np.float32), tmp_path / "v.nii")


def test_an_unknown_window_is_refused(images, tmp_path):
    with pytest.raises(ValueError, match="window: expected one of soft, soft-tissue, lung, bone, brain .* got 'liver'"):
        export(images, tmp_path / "p.png", window="liver")
    assert list(tmp_path.iterdir()) == []


def test_a_description_of_several_lines_is_refused(images, tmp_path):
    with pytest.raises(ValueError, match="description: expected one line of text"):
        export(images, tmp_path / "p.png", description="tv\nweight")
