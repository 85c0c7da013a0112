"""CT DICOM import: HU, LoDoPaB's normalisation, orientation, fitting and bad input.

pydicom's CT_small.dcm is only read (evaluation data); modified copies live in tmp_path.
"""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG2MPML

from recon import Geometry
from recon.data.dicom import load_dicom, read_hu
from recon.physics import MU_MAX, hu_to_normalized

CT_SMALL = get_testdata_file("CT_small.dcm")


def ct_small() -> pydicom.Dataset:
    return pydicom.dcmread(CT_SMALL)


def save(dataset: pydicom.Dataset, path) -> str:
    dataset.save_as(path, enforce_file_format=True)
    return str(path)


def test_ct_small_in_hu_and_normalised():
    source = ct_small()
    stored = source.pixel_array.astype(np.float64)
    hu, spacing = read_hu(CT_SMALL)
    assert hu.shape == (1, 128, 128)
    assert spacing == pytest.approx((0.661468e-3, 0.661468e-3))
    expected_hu = stored * float(source.RescaleSlope) + float(source.RescaleIntercept)
    np.testing.assert_array_equal(hu[0], expected_hu[::-1].T)
    image = load_dicom(CT_SMALL, Geometry.parallel(image_size=128))
    assert image.dtype == np.float32 and 0 <= image.min() and image.max() <= 1
    np.testing.assert_allclose(image[0], hu_to_normalized(expected_hu[::-1].T), rtol=1e-6)


def test_anatomy_is_upright_when_plotted_transposed_with_origin_lower(tmp_path):
    dataset = ct_small()
    pixels = np.full((128, 128), 1024 - 1000, dtype=np.int16)  # stored value of -1000 HU
    pixels[:10, :20] = 1024 + 1000  # bright block at the screen's top left
    dataset.PixelData = pixels.tobytes()
    image = load_dicom(save(dataset, tmp_path / "marker.dcm"), Geometry.parallel(image_size=128))[0]
    # imshow(image.T, origin="lower"): column = x (index i), row from the bottom = y (index j)
    bright = image > hu_to_normalized(0.0)
    assert bright[:20, -10:].all() and bright.sum() == 200


def test_centre_crop_like_lodopab_and_padding_with_air():
    hu, _ = read_hu(CT_SMALL)
    cropped = load_dicom(CT_SMALL, Geometry.parallel(image_size=(101, 77)))[0]
    np.testing.assert_allclose(cropped, hu_to_normalized(hu[0, 13:114, 25:102]), rtol=1e-6)
    padded = load_dicom(CT_SMALL, Geometry.parallel(image_size=131))[0]
    np.testing.assert_allclose(padded[1:129, 1:129], hu_to_normalized(hu[0]), rtol=1e-6)
    assert padded[0].max() == pytest.approx(hu_to_normalized(-1000.0))


def test_resampling_at_the_native_pixel_size_is_the_identity():
    hu, spacing = read_hu(CT_SMALL)
    native = Geometry.parallel(image_size=128, half_extent=64 * spacing[0])
    resampled = load_dicom(CT_SMALL, native, fit="resample")[0]
    np.testing.assert_allclose(resampled, hu_to_normalized(hu[0]), atol=1e-6)
    # LoDoPaB's field of view (0.26 m) holds the 8.5 cm slice in its middle, air around it
    wide = load_dicom(CT_SMALL, Geometry.parallel(image_size=64), fit="resample")[0]
    assert wide[:5].max() == pytest.approx(hu_to_normalized(-1000.0))
    assert wide[32, 32] > hu_to_normalized(-500.0)


def test_dequantisation_is_seeded_and_below_one_hu():
    geometry = Geometry.parallel(image_size=64)
    plain = load_dicom(CT_SMALL, geometry)
    noisy = load_dicom(CT_SMALL, geometry, dequantize_seed=1)
    np.testing.assert_array_equal(noisy, load_dicom(CT_SMALL, geometry, dequantize_seed=1))
    step = 19.98 / 1000 / MU_MAX  # one HU on the normalised scale
    difference = noisy - plain
    assert difference.min() >= -1e-7 and difference.max() <= step + 1e-7 and difference.std() > 0.2 * step


def test_folder_is_sorted_by_position_and_skips_other_files(tmp_path):
    folder = tmp_path / "series"
    folder.mkdir()
    for name, z, offset in (("a.dcm", 10.0, 0), ("b.dcm", -5.0, 100)):
        dataset = ct_small()
        dataset.ImagePositionPatient = [0.0, 0.0, z]
        dataset.PixelData = (dataset.pixel_array + offset).astype(np.int16).tobytes()
        save(dataset, folder / name)
    (folder / "README.txt").write_text("not a DICOM file")
    hu, _ = read_hu(folder)
    assert hu.shape == (2, 128, 128)
    np.testing.assert_array_equal(hu[0] - hu[1], 100)  # b.dcm (z = -5) first


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="empty folder"):
        load_dicom(tmp_path, Geometry.parallel(image_size=32))


def test_folder_without_dicom_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="no DICOM files"):
        load_dicom(tmp_path, Geometry.parallel(image_size=32))


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere"):
        load_dicom(tmp_path / "nothere", Geometry.parallel(image_size=32))


def test_non_ct_modality(tmp_path):
    dataset = ct_small()
    dataset.Modality = "MR"
    path = save(dataset, tmp_path / "mr.dcm")
    with pytest.raises(ValueError, match=r"mr\.dcm: expected a CT image .* got Modality 'MR'"):
        load_dicom(path, Geometry.parallel(image_size=32))


def test_missing_rescale_tags(tmp_path):
    dataset = ct_small()
    del dataset.RescaleSlope
    path = save(dataset, tmp_path / "raw.dcm")
    with pytest.raises(ValueError, match=r"raw\.dcm: missing RescaleSlope"):
        load_dicom(path, Geometry.parallel(image_size=32))


def test_compressed_pixel_data_without_a_decoder(tmp_path):
    dataset = ct_small()
    dataset.PixelData = encapsulate([dataset.PixelData])
    dataset.file_meta.TransferSyntaxUID = MPEG2MPML  # no pydicom decoder exists for video
    path = save(dataset, tmp_path / "video.dcm")
    with pytest.raises(ValueError, match=r"video\.dcm: pixel data compressed as MPEG2.*no installed decoder"):
        load_dicom(path, Geometry.parallel(image_size=32))


def test_a_single_non_dicom_file(tmp_path):
    path = tmp_path / "x.dcm"
    shutil.copy(__file__, path)
    with pytest.raises(ValueError, match=r"x\.dcm: not a readable DICOM file"):
        load_dicom(path, Geometry.parallel(image_size=32))
