"""Task-based image quality, measured in regions placed in millimetres: NPS, CT numbers, TTF, CHO detectability.

* :mod:`recon.quality.roi`: :class:`Insert` (a disc in mm and HU), pixel coordinates, masks, square ROIs;
* :mod:`recon.quality.nps`: noise power spectrum of repeated realisations, noise magnitude, peak and mean frequency;
* :mod:`recon.quality.ct_number`: CT-number accuracy per insert, uniformity of a cylinder;
* :mod:`recon.quality.ttf`: task transfer function of a circular insert, f50 and f10;
* :mod:`recon.quality.cho`: channelised Hotelling observer (Laguerre-Gauss channels), d' and AUC.

The QA phantoms they measure are :mod:`recon.data.qa`. Frequencies are in lp/cm, CT numbers in HU.

Examples
--------
>>> import recon
>>> from recon.algorithms import fbp
>>> from recon.data.qa import ct_number_module, noise_realisations
>>> g = recon.Geometry.parallel(image_size=64, num_angles=90, num_detectors=91)
>>> A, phantom = recon.RayTransform(g), ct_number_module()
>>> x = fbp(noise_realisations(phantom.image(g), A, 4096, 8, seed=0), A)  # 8 noisy FBPs, (8, 1, 64, 64)
>>> numbers = ct_numbers(x.mean(dim=0, keepdim=True), g, phantom.inserts)
>>> [(insert.name, round(float(error))) for insert, error in zip(numbers.inserts, numbers.error[0, 0])][:3]
[('air', 155), ('polyethylene', 15), ('water', 3)]
>>> 15 < float(noise_power_spectrum(x, g, size=16).noise[0]) < 25  # HU
True
"""

from recon.quality.cho import Detectability, cho_detectability, laguerre_gauss_channels
from recon.quality.ct_number import CTNumbers, ct_numbers, uniformity, uniformity_regions
from recon.quality.nps import NoisePowerSpectrum, noise_power_spectrum, radial_average
from recon.quality.roi import Insert, crop_squares, disc_mask, pixel_coordinates
from recon.quality.ttf import TaskTransferFunction, task_transfer_function

__all__ = [
    "CTNumbers",
    "Detectability",
    "Insert",
    "NoisePowerSpectrum",
    "TaskTransferFunction",
    "cho_detectability",
    "crop_squares",
    "ct_numbers",
    "disc_mask",
    "laguerre_gauss_channels",
    "noise_power_spectrum",
    "pixel_coordinates",
    "radial_average",
    "task_transfer_function",
    "uniformity",
    "uniformity_regions",
]
