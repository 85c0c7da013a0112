"""A stack of slices as a DICOM series: a folder of CT Image Storage files, one a slice, through pydicom."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path

import numpy as np

from recon.export.stack import Labels, Stack, as_viewed, series_folder, slice_names, to_integers
from recon.files import atomic_folder
from recon.version import __version__

__all__ = ["RESCALE_SLOPE", "RESCALE_INTERCEPT", "write"]

#: HU = stored value * RESCALE_SLOPE + RESCALE_INTERCEPT: signed 16-bit pixels hold HU rounded to
#: 1 HU, -32768 to 32767 HU, far beyond recon's -1000..3071 (normalised -7.6 to 8.6).
RESCALE_SLOPE = 1.0
RESCALE_INTERCEPT = 0.0


def write(stack: Stack, labels: Labels, path: Path, *, overwrite: bool) -> Path:
    """Write the stack as a DICOM series into the folder ``path`` (without a ``.dcm`` suffix).

    One file a slice, ``0001.dcm`` ... in slice order, each a CT Image
    Storage instance in Explicit VR Little Endian with a valid file meta:
    int16 pixels of HU (:data:`RESCALE_SLOPE` 1, :data:`RESCALE_INTERCEPT`
    0, so 1 HU quantisation: 1/4071 of recon's normalised scale),
    rows top->bottom as a viewer shows them (the inverse of
    :func:`recon.data.dicom.read_hu`). PixelSpacing ``[dy, dx]`` and
    SliceThickness (= the spacing, the pixel size along x) in mm from the
    geometry; ImageOrientationPatient ``[1, 0, 0, 0, 1, 0]``;
    ImagePositionPatient the centre of the slice's first (top-left) voxel,
    z advancing by the slice spacing from 0 (:attr:`Stack.lps_affine`).
    New Study, Series, Frame of Reference and SOP Instance UIDs each
    export; patient "anonymous"; ImageType DERIVED\\SECONDARY;
    DerivationDescription and SeriesDescription (cut to 64 characters) the
    description; WindowCenter/WindowWidth the window.

    Returns
    -------
    pathlib.Path
        The series' folder.
    """
    folder = series_folder(path, ".dcm")
    series = _series_dataset(stack, labels)
    slice_affine = stack.lps_affine
    rows = stack.geometry.image_shape[1]
    with atomic_folder(folder, overwrite=overwrite) as temporary:
        for k, (hu, name) in enumerate(zip(stack.hu(), slice_names(len(stack), ".dcm"))):
            dataset = copy.deepcopy(series)
            position = (slice_affine @ [0, rows - 1, k, 1])[:3]  # the top-left voxel: x first, y last
            dataset.InstanceNumber = k + 1
            dataset.ImagePositionPatient = [_ds(value) for value in position]
            dataset.SliceLocation = _ds(position[2])
            dataset.set_pixel_data(to_integers(as_viewed(hu), np.int16), "MONOCHROME2", 16)
            dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
            _write_slice(dataset, temporary / name)
    return folder


def _write_slice(dataset, path: Path) -> None:
    """Write one slice's dataset as a DICOM file with preamble and file meta."""
    dataset.save_as(path, enforce_file_format=True)


def _ds(value: float):
    """A decimal string (DS) of at most 16 characters."""
    from pydicom.valuerep import DSfloat

    return DSfloat(float(value), auto_format=True)


def _series_dataset(stack: Stack, labels: Labels):
    """The attributes every slice of the series shares (no pixel data, no instance UID)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    now = datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    dx, dy, dz = stack.voxel_mm
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = CTImageStorage
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: descriptions in any language
    dataset.SOPClassUID = CTImageStorage
    dataset.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    dataset.Modality = "CT"
    dataset.Manufacturer = "recon"
    dataset.SoftwareVersions = __version__
    dataset.PatientName = "anonymous"
    dataset.PatientID = "anonymous"
    dataset.PatientBirthDate = ""
    dataset.PatientSex = ""
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.FrameOfReferenceUID = generate_uid()
    dataset.PositionReferenceIndicator = ""
    dataset.StudyDate = dataset.SeriesDate = dataset.ContentDate = date
    dataset.StudyTime = dataset.SeriesTime = dataset.ContentTime = time
    dataset.StudyID = ""
    dataset.AccessionNumber = ""
    dataset.ReferringPhysicianName = ""
    dataset.SeriesNumber = 1
    dataset.AcquisitionNumber = 1
    dataset.KVP = ""
    dataset.SeriesDescription = labels.description[:64]
    dataset.DerivationDescription = labels.description[:1024]
    dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    dataset.PixelSpacing = [_ds(dy), _ds(dx)]  # between rows (y), between columns (x)
    dataset.SliceThickness = _ds(dz)
    dataset.SpacingBetweenSlices = _ds(dz)
    dataset.RescaleSlope = _ds(RESCALE_SLOPE)
    dataset.RescaleIntercept = _ds(RESCALE_INTERCEPT)
    dataset.RescaleType = "HU"
    dataset.WindowCenter = _ds(labels.window.level)
    dataset.WindowWidth = _ds(labels.window.width)
    dataset.WindowCenterWidthExplanation = labels.window.label[:64]
    return dataset
