"""A stack of slices as one NIfTI-1 volume (``.nii``, or gzip-compressed ``.nii.gz``), through nibabel."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from recon.export.stack import Labels, Stack
from recon.files import atomic_path

__all__ = ["RAS_FROM_LPS", "write"]

#: DICOM's patient coordinates (LPS) to NIfTI's (RAS): x and y change sign.
RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def write(stack: Stack, labels: Labels, path: Path, *, overwrite: bool) -> Path:
    """Write the stack to the NIfTI file ``path``; gzip-compressed if its name ends in ``.gz``.

    Data: float32 HU (no ``scl_slope``/``scl_inter`` scaling), shape
    ``(nx, ny, N)``: recon's x-first slices are NIfTI's ``i, j`` axes as
    they are, slice ``k`` its ``k`` axis. Affine (qform and sform, code 1,
    "scanner"): :attr:`Stack.lps_affine` in RAS, so voxel sizes are the
    geometry's pixel size in mm (slice spacing: the pixel size along x) and
    ``nibabel.aff2axcodes`` gives ``("L", "A", "S")``: ``i`` towards the
    patient's left, ``j`` anterior, ``k`` superior, the orientation of the
    DICOM export (and of dcm2niix's conversions); a viewer shows the slices
    upright. Units mm and s; ``cal_min``/``cal_max`` the window's limits;
    ``descrip`` the description cut to 80 bytes; a comment extension (code 6)
    holds JSON of the description, unit and metadata.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import nibabel

    volume = np.empty((*stack.geometry.image_shape, len(stack)), dtype=np.float32)
    for k, hu in enumerate(stack.hu()):
        volume[..., k] = hu
    affine = RAS_FROM_LPS @ stack.lps_affine
    image = nibabel.Nifti1Image(volume, affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    header = image.header
    header.set_xyzt_units("mm", "sec")
    header["descrip"] = labels.description.encode()[:80].decode(errors="ignore").encode()
    header["cal_min"], header["cal_max"] = labels.window.limits
    header.extensions.append(nibabel.nifti1.Nifti1Extension("comment", labels.json(unit="HU").encode()))
    compressed = path.name.lower().endswith(".gz")
    with atomic_path(path, overwrite=overwrite) as temporary, \
            (gzip.open(temporary, "wb") if compressed else open(temporary, "wb")) as stream:
        image.to_file_map({"image": nibabel.FileHolder(fileobj=stream)})
    return path
