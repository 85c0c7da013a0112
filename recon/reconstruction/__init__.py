"""Reconstruct your own data: sinograms from files or arrays, any method spec, images to standard formats.

>>> from recon.reconstruction import open_sinograms, reconstruct_to_file  # doctest: +SKIP
>>> reconstruct_to_file("scan.npy", "tv", "scan.nii.gz", geometry=Geometry.lodopab_small())  # doctest: +SKIP
"""

from recon.reconstruction.inputs import ARRAY_SUFFIXES, SinogramInput, open_sinograms, sinogram_input
from recon.reconstruction.run import IMAGES_FORMAT, reconstruct, reconstruct_to_file

__all__ = ["ARRAY_SUFFIXES", "IMAGES_FORMAT", "SinogramInput", "open_sinograms", "reconstruct",
           "reconstruct_to_file", "sinogram_input"]
