"""QA phantoms for task-based image quality, defined in millimetres and HU so they are one object at every grid.

Each phantom is a :class:`QAPhantom`: a water cylinder of 20 cm diameter in
air holding circular inserts (:class:`recon.quality.Insert`), which
:meth:`QAPhantom.image` rasterises onto any 2D geometry's grid with
area-weighted edges (supersampled coverage of each pixel). The metrics of
:mod:`recon.quality` find their regions from the same inserts.

``water_cylinder``
    uniform water: noise, NPS, uniformity.
``ct_number_module``
    inserts of the materials of :data:`CT_NUMBERS` (air, polyethylene, water,
    acrylic, bone-like): CT-number accuracy.
``resolution_module``
    15 mm discs of +340 HU and +40 HU (the task transfer function at two
    contrasts) and a thin tungsten-like wire.
``low_contrast_module``
    after the MITA-LCD phantom (CCT189): rods of 3, 5, 7 and 10 mm at
    contrasts of 14, 7, 5 and 3 HU (:data:`LOW_CONTRAST_RODS`).

:func:`noise_realisations` draws seeded independent low-dose sinograms of one image.

References
----------
E. Samei et al., "Performance evaluation of computed tomography systems: the
report of AAPM Task Group 233", Med. Phys. 46(11), 2019.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from recon.data.seeds import sample_seeds
from recon.geometry import Geometry
from recon.operators import RayTransform
from recon.physics import Photons, add_noise, counts_to_post_log, hu_to_normalized, line_integrals
from recon.quality.roi import Insert, check_inside, pixel_size_mm

__all__ = ["CT_NUMBERS", "LOW_CONTRAST_RODS", "QAPhantom", "ct_number_module", "low_contrast_module",
           "noise_realisations", "resolution_module", "water_cylinder"]

#: Nominal CT numbers of the CT-number module's inserts, HU (typical values of CT QA phantoms' materials).
CT_NUMBERS = {"air": -1000.0, "polyethylene": -95.0, "water": 0.0, "acrylic": 120.0, "bone": 900.0}
#: The low-contrast module's rods: (diameter in mm, contrast in HU above water), as in MITA-LCD / CCT189.
LOW_CONTRAST_RODS = ((3.0, 14.0), (5.0, 7.0), (7.0, 5.0), (10.0, 3.0))
#: Radius of the water cylinder of every module, mm (20 cm diameter).
CYLINDER_RADIUS = 100.0
#: HU outside the cylinder.
AIR_HU = -1000.0
#: Samples along a disc's radius, at least, when it is rasterised: its area within about 5e-4 of pi r^2.
SAMPLES_PER_RADIUS = 128
#: Stream of :func:`recon.data.seeds.sample_seeds` that the noise realisations draw their seeds from.
_NOISE_STREAM = 20


@dataclass(frozen=True)
class QAPhantom:
    """A water cylinder in air with circular inserts, in millimetres and HU.

    Attributes
    ----------
    name : str
    body : Insert
        The cylinder (centre, radius in mm, CT number).
    inserts : tuple of Insert
        Painted over the body in order; a later insert covers an earlier one.
    """

    name: str
    body: Insert
    inserts: tuple[Insert, ...] = ()

    def image(self, geometry: Geometry, *, supersampling: int = 8) -> Tensor:
        """The phantom on ``geometry``'s grid, normalised attenuation.

        Parameters
        ----------
        geometry : Geometry
            A 2D geometry; its field ``image_min`` to ``image_max`` must hold the cylinder.
        supersampling : int
            Least samples per pixel along each axis; a small disc gets more, so
            that :data:`SAMPLES_PER_RADIUS` span its radius. Each disc covers a
            pixel by the fraction of its samples inside, and is painted over
            what lies below by that fraction: edges are weighted by the area
            they cover (exact for discs that do not share an edge pixel).

        Returns
        -------
        Tensor, shape (1, 1, nx, ny), float32
            :func:`recon.physics.hu_to_normalized` of the pixel means, x-first.

        Raises
        ------
        ValueError
            If the cylinder leaves the field, or ``supersampling`` is not a positive int.

        Examples
        --------
        >>> import recon
        >>> x = water_cylinder().image(recon.Geometry.parallel(image_size=64))
        >>> tuple(x.shape), round(float(x[0, 0, 32, 32]), 4)
        ((1, 1, 64, 64), 0.2458)
        """
        if not (isinstance(supersampling, int) and supersampling > 0):
            raise ValueError(f"supersampling: expected a positive int, got {supersampling!r}")
        for disc in (self.body, *self.inserts):
            what = self.name if disc.name == self.name else f"{self.name}: {disc.name}"
            check_inside(geometry, what, disc.x, disc.y, disc.radius)
        pixels = np.full(geometry.image_shape, AIR_HU)
        for disc in (self.body, *self.inserts):
            window, fraction = _coverage(disc, geometry, supersampling)
            pixels[window] = pixels[window] * (1 - fraction) + disc.hu * fraction
        return torch.from_numpy(hu_to_normalized(pixels).astype(np.float32))[None, None]


def _coverage(disc: Insert, geometry: Geometry, supersampling: int) -> tuple[tuple[slice, slice], np.ndarray]:
    """The pixels around ``disc`` and the fraction of each that it covers, by supersampling."""
    pixel = pixel_size_mm(geometry)
    factor = max(supersampling, math.ceil(SAMPLES_PER_RADIUS * pixel / disc.radius))
    window, samples = [], []
    for centre, lo, n in zip((disc.x, disc.y), geometry.image_min, geometry.image_shape):
        first = max(math.floor((centre - disc.radius - lo * 1000) / pixel), 0)
        last = min(math.ceil((centre + disc.radius - lo * 1000) / pixel), n)
        window.append(slice(first, last))
        samples.append(lo * 1000 + (np.arange(first * factor, last * factor) + 0.5) * (pixel / factor))
    u, v = samples
    inside = (u[:, None] - disc.x) ** 2 + (v[None, :] - disc.y) ** 2 <= disc.radius**2
    fraction = inside.reshape(len(u) // factor, factor, len(v) // factor, factor).mean(axis=(1, 3))
    return tuple(window), fraction


def _cylinder() -> Insert:
    return Insert("water cylinder", 0.0, 0.0, CYLINDER_RADIUS, 0.0)


def _ring(names: tuple[str, ...], radii: tuple[float, ...], hus: tuple[float, ...], distance: float) -> tuple[
        Insert, ...]:
    """Inserts evenly spaced on a circle of ``distance`` mm, the first on the +x axis."""
    angles = 2 * np.pi * np.arange(len(names)) / len(names)
    return tuple(Insert(name, round(distance * float(np.cos(a)), 6), round(distance * float(np.sin(a)), 6), r, hu)
                 for name, r, hu, a in zip(names, radii, hus, angles))


def water_cylinder() -> QAPhantom:
    """Uniform water (0 HU), 20 cm diameter, in air: noise, NPS and uniformity."""
    return QAPhantom("water cylinder", _cylinder())


def ct_number_module(*, radius: float = 12.5, distance: float = 55.0) -> QAPhantom:
    """The water cylinder with one insert of each material of :data:`CT_NUMBERS`.

    Parameters
    ----------
    radius : float
        Radius of the inserts, mm (25 mm diameter).
    distance : float
        Their centres lie on a circle of this radius, mm, evenly spaced.
    """
    names = tuple(CT_NUMBERS)
    return QAPhantom("CT-number module", _cylinder(),
                     _ring(names, (radius,) * len(names), tuple(CT_NUMBERS.values()), distance))


def resolution_module(*, contrasts: tuple[float, ...] = (340.0, 40.0), radius: float = 7.5,
                      distance: float = 50.0, wire_radius: float = 0.25, wire_hu: float = 3000.0) -> QAPhantom:
    """The water cylinder with discs for the task transfer function and a thin wire.

    Parameters
    ----------
    contrasts : tuple of float
        CT numbers of the discs, HU (a high- and a low-contrast task).
    radius : float
        Radius of the discs, mm (15 mm diameter).
    distance : float
        The discs and the wire lie on a circle of this radius, mm.
    wire_radius, wire_hu : float
        The wire (the last insert): radius in mm, far below a pixel, and CT number in HU.
    """
    names = (*(f"disc {hu:+g} HU" for hu in contrasts), "wire")
    return QAPhantom("resolution module", _cylinder(),
                     _ring(names, (radius,) * len(contrasts) + (wire_radius,), (*contrasts, wire_hu), distance))


def low_contrast_module(*, distance: float = 50.0, rods: tuple[tuple[float, float], ...] = LOW_CONTRAST_RODS,
                        copies: int = 1) -> QAPhantom:
    """The water cylinder with the low-contrast rods of MITA-LCD (CCT189).

    Parameters
    ----------
    distance : float
        The rods lie on a circle of this radius, mm.
    rods : tuple of (float, float)
        Diameter in mm and contrast in HU of each rod.
    copies : int
        Each rod this many times (same name), the set repeated around the
        circle: 1 is CCT189's layout; 2 puts each rod's copy opposite it,
        twice the signal-present samples per image for the CHO.
    """
    if not (isinstance(copies, int) and copies >= 1):
        raise ValueError(f"copies: expected a positive int, got {copies!r}")
    names = tuple(f"rod {d:g} mm" for d, _ in rods) * copies
    return QAPhantom("low-contrast module", _cylinder(),
                     _ring(names, tuple(d / 2 for d, _ in rods) * copies, tuple(c for _, c in rods) * copies,
                           distance))


def noise_realisations(image: Tensor, A: RayTransform, photons: Photons, count: int, *, seed: int) -> Tensor:
    """``count`` independent low-dose post-log sinograms of one image, seeded.

    Realisation ``i`` is :func:`recon.physics.simulate` of ``image`` with the
    seed ``sample_seeds(seed, i, stream=20)[1]`` (:mod:`recon.data.seeds`):
    the same bytes whatever ``count``, so realisation ``i`` of 10 is realisation
    ``i`` of 100. The noise-free line integrals are projected once.

    Parameters
    ----------
    image : Tensor, shape (1, 1, nx, ny)
        Normalised attenuation on ``A.geometry``'s grid (:meth:`QAPhantom.image`).
    A : RayTransform
    photons : float
        ``N0``, photons per bin of the unattenuated beam.
    count : int
        Number of realisations.
    seed : int

    Returns
    -------
    Tensor, shape (count, 1, num_angles, num_detectors), float32
    """
    if not (isinstance(count, int) and count > 0):
        raise ValueError(f"count: expected a positive int, got {count!r}")
    if image.dim() != 4 or image.shape[:2] != (1, 1):
        raise ValueError(f"image: expected shape (1, 1, nx, ny), got {tuple(image.shape)}")
    seeds = [sample_seeds(seed, index, stream=_NOISE_STREAM)[1] for index in range(count)]
    integrals = line_integrals(image, A).expand(count, -1, -1, -1)
    counts = add_noise(integrals, photons=photons, seed=seeds)
    return counts_to_post_log(counts, photons=photons)
