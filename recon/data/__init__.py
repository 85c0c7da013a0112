"""Ground-truth images and paired sinogram/image datasets.

* :mod:`recon.data.phantoms`: Shepp-Logan, random ellipses, FORBILD;
* :mod:`recon.data.dicom`: CT DICOM slices to normalised attenuation;
* :mod:`recon.data.hdf5`: recon's paired HDF5 format (atomic writer, validation);
* :mod:`recon.data.datasets`: :class:`PairedDataset` (torch Dataset of a paired file);
* :mod:`recon.data.simulated`: reproducible per-sample seeds, :class:`PhantomDataset`;
* :mod:`recon.data.lodopab`: :class:`LoDoPaB` reader and :func:`write_lodopab`.
* :mod:`recon.data.qa`: QA phantoms in mm and HU (water cylinder, CT-number, resolution and low-contrast
  modules) and seeded noise realisations, for :mod:`recon.quality`.
"""

from recon.data.datasets import PairedDataset
from recon.data.dicom import load_dicom
from recon.data.hdf5 import PairedWriter, inspect_paired, write_paired
from recon.data.lodopab import LoDoPaB, write_lodopab
from recon.data.simulated import PhantomDataset, Simulation

__all__ = [
    "PairedDataset",
    "PhantomDataset",
    "Simulation",
    "LoDoPaB",
    "write_lodopab",
    "load_dicom",
    "PairedWriter",
    "write_paired",
    "inspect_paired",
]
