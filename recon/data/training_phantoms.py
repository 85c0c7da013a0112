"""Diverse random training phantoms: heads, thoraxes, abdomens, ellipse bodies and smooth blobs.

Models trained on one phantom family learn that family. The ``mixed`` family
draws, per sample, one of five anatomically motivated layouts in Hounsfield
units, adds smooth random texture inside the body to half of the samples
(the other half stay piecewise constant, as phantoms are) and applies a
random rotation, flip, scale and shift, so that learned reconstructors meet
edges, contrasts, textures and outlines of many kinds. Skulls reach 3000 HU,
near the top of LoDoPaB's normalised scale (3071 HU), so that bright outer
rings of any density are seen in training; textured bone (skull, vertebrae)
varies inside as spongy bone does. Most phantoms carry small clutter (vessels,
calcifications, fat strands) of random contrast. Half of the phantoms are
close-ups, magnified 1.15 to 4 times past the edges of the field and centred
anywhere on the body, as LoDoPaB-CT's crops of CT slices are (its central
362 of 512 pixels show a part of the patient, at the slice's own scale):

``head``
    skull ring (bone; often two tables around a less dense diploe), brain,
    ventricles, low-contrast lesions and, sometimes, air cells:
    FORBILD-like structures, never the FORBILD phantom itself.
``thorax``
    body, two lungs with vessels, heart, spine, sometimes ribs.
``abdomen``
    fat layer, liver, kidneys, vessels, spine, bowel gas.
``ellipses``
    :class:`~recon.data.phantoms.EllipseFamily` with random parameters.
``blobs``
    star-shaped smooth objects (random Fourier outlines) of random CT numbers.

The ``mixed-grain`` variant (``grain=True``) adds to every body the fine
grain of a normal-dose CT reconstruction (:data:`GRAIN_HU`,
:data:`GRAIN_CORRELATION`): clinical CT slices, the ground truths of
LoDoPaB-CT, are reconstructions themselves and carry their own noise and
fine texture, which piecewise-smooth phantoms lack.

Everything is seeded: the same seed gives the same image. The evaluation
images (Shepp-Logan, FORBILD, pydicom's CT slices) are not part of any family.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recon.data.canvas import Canvas
from recon.data.phantoms import EllipseFamily, _as_pair

__all__ = ["CLUTTER_FRACTION", "GRAIN_CORRELATION", "GRAIN_HU", "MAGNIFICATION", "MAGNIFIED_FRACTION", "MIXED_LAYOUTS", "SKULL_HU_MAX",
           "TEXTURED_FRACTION", "mixed_phantom"]

#: The layouts of :func:`mixed_phantom`, drawn with equal probability.
MIXED_LAYOUTS = ("head", "thorax", "abdomen", "ellipses", "blobs")

#: Probability that a phantom of :func:`mixed_phantom` carries random texture.
TEXTURED_FRACTION = 0.5

#: Highest CT number of a head layout's skull, HU.
SKULL_HU_MAX = 3000.0

#: Probability that a phantom is a close-up, magnified past the edges of the
#: field, as LoDoPaB-CT's centre crops of CT slices are.
MAGNIFIED_FRACTION = 0.5

#: Range of a close-up's magnification, drawn log-uniformly.
MAGNIFICATION = (1.15, 4.0)

#: Probability that a phantom carries small clutter (see :func:`_clutter`).
CLUTTER_FRACTION = 0.6

#: Range of the grain's standard deviation per pixel (``grain=True``), HU, drawn log-uniformly.
GRAIN_HU = (3.0, 60.0)

#: Range of the grain's Gaussian correlation length (``grain=True``), pixels, drawn uniformly.
GRAIN_CORRELATION = (0.25, 1.0)


def _head(canvas: Canvas, rng: np.random.Generator) -> np.ndarray:
    a, b = rng.uniform(0.55, 0.75), rng.uniform(0.7, 0.9)
    thickness = rng.uniform(0.03, 0.09)
    head = canvas.ellipse(a, b, 0, 0)
    table_hu = rng.uniform(700, SKULL_HU_MAX)
    canvas.paint(head, table_hu)
    if rng.uniform() < 0.7:  # diploe: spongy bone between the outer and the inner table
        outer, inner = np.sort(rng.uniform(0.2, 0.8, size=2)) * thickness
        canvas.paint(canvas.ellipse(a - outer, b - outer, 0, 0), table_hu * rng.uniform(0.3, 0.8))
        canvas.paint(canvas.ellipse(a - inner, b - inner, 0, 0), table_hu)
    brain = canvas.ellipse(a - thickness, b - thickness, 0, 0)
    canvas.texture(head & ~brain, rng, amplitude=rng.uniform(0, 150), correlation=rng.uniform(0.5, 1.5))
    canvas.paint(brain, rng.uniform(20, 45))
    for side in (-1, 1):  # ventricles
        if rng.uniform() < 0.8:
            canvas.paint(canvas.ellipse(rng.uniform(0.04, 0.1), rng.uniform(0.12, 0.25),
                                        side * rng.uniform(0.06, 0.15), rng.uniform(-0.1, 0.15),
                                        side * rng.uniform(0, 0.4)), rng.uniform(0, 15))
    for _ in range(rng.integers(0, 7)):  # low-contrast lesions and calcifications
        r = rng.uniform(0.015, 0.1)
        contrast = rng.choice([rng.uniform(-25, 25), rng.uniform(150, 900)], p=[0.8, 0.2])
        centre = rng.uniform(-0.6, 0.6, size=2) * (a - thickness - r, b - thickness - r)
        canvas.paint(canvas.ellipse(r, r * rng.uniform(0.5, 1.5), *centre, rng.uniform(0, np.pi)),
                     canvas.hu[brain].mean() + contrast)
    if rng.uniform() < 0.5:  # air cells / sinuses at the front
        for _ in range(rng.integers(1, 5)):
            canvas.paint(canvas.ellipse(*rng.uniform(0.02, 0.07, size=2), rng.uniform(-0.2, 0.2),
                                        b - thickness - rng.uniform(0.05, 0.15)), rng.uniform(-1000, -600))
    return head


def _thorax(canvas: Canvas, rng: np.random.Generator) -> np.ndarray:
    a, b = rng.uniform(0.7, 0.92), rng.uniform(0.45, 0.65)
    body = canvas.ellipse(a, b, 0, 0)
    canvas.paint(body, rng.uniform(-120, -60))  # subcutaneous fat
    canvas.paint(canvas.ellipse(a - rng.uniform(0.04, 0.1), b - rng.uniform(0.04, 0.1), 0, 0), rng.uniform(20, 60))
    lung_hu = rng.uniform(-900, -700)
    for side in (-1, 1):
        lung = canvas.ellipse(rng.uniform(0.22, 0.33) * a / 0.8, rng.uniform(0.28, 0.42) * b / 0.55,
                              side * rng.uniform(0.3, 0.42) * a / 0.8, rng.uniform(-0.05, 0.08),
                              side * rng.uniform(0, 0.3))
        canvas.paint(lung, lung_hu)
        canvas.texture(lung, rng, amplitude=rng.uniform(0, 40), correlation=rng.uniform(0.7, 2))
        points = np.argwhere(lung)
        for _ in range(rng.integers(3, 15)):  # vessels and nodules
            if len(points):
                point = tuple(points[rng.integers(len(points))])
                u, v = canvas.u[point], canvas.v[point]
                r = rng.uniform(0.008, 0.035)
                canvas.paint(canvas.ellipse(r, r * rng.uniform(0.6, 1.6), u, v, rng.uniform(0, np.pi)),
                             rng.uniform(-100, 80))
    canvas.paint(canvas.ellipse(rng.uniform(0.15, 0.25), rng.uniform(0.15, 0.22), rng.uniform(-0.1, 0.1),
                                rng.uniform(0.0, 0.15), rng.uniform(0, np.pi)), rng.uniform(30, 60))  # heart
    _spine(canvas, rng, b)
    if rng.uniform() < 0.5:  # ribs
        for phi in np.linspace(0.3, np.pi - 0.3, rng.integers(4, 9)):
            canvas.paint(canvas.ellipse(0.02, 0.035, (a - 0.08) * np.cos(phi), -(b - 0.08) * np.sin(phi)
                                        * rng.choice([-1, 1]), phi), rng.uniform(400, 1000))
    return body


def _abdomen(canvas: Canvas, rng: np.random.Generator) -> np.ndarray:
    a, b = rng.uniform(0.65, 0.92), rng.uniform(0.45, 0.7)
    body = canvas.ellipse(a, b, 0, 0)
    canvas.paint(body, rng.uniform(-130, -70))
    inner = canvas.ellipse(a - rng.uniform(0.04, 0.15), b - rng.uniform(0.04, 0.12), 0, 0)
    canvas.paint(inner, rng.uniform(0, 40))
    canvas.texture(inner, rng, amplitude=rng.uniform(5, 30), correlation=rng.uniform(1, 5))
    liver = canvas.blob(rng.uniform(0.25, 0.35), -rng.uniform(0.2, 0.35), rng.uniform(-0.05, 0.15),
                        np.column_stack([rng.uniform(0, 0.2, 4), rng.uniform(0, 2 * np.pi, 4)]))
    canvas.paint(liver & inner, rng.uniform(40, 70))
    for side in (-1, 1):  # kidneys
        canvas.paint(canvas.ellipse(rng.uniform(0.06, 0.1), rng.uniform(0.09, 0.14), side * rng.uniform(0.2, 0.3),
                                    -rng.uniform(0.15, 0.3), side * rng.uniform(0, 0.5)), rng.uniform(25, 200))
    for _ in range(rng.integers(2, 9)):  # vessels, lesions, bowel gas
        r = rng.uniform(0.015, 0.08)
        hu = rng.choice([rng.uniform(100, 300), rng.uniform(-20, 80), rng.uniform(-1000, -500)], p=[0.3, 0.5, 0.2])
        canvas.paint(canvas.ellipse(r, r * rng.uniform(0.6, 1.4), rng.uniform(-0.5, 0.5) * a,
                                    rng.uniform(-0.4, 0.4) * b, rng.uniform(0, np.pi)) & inner, hu)
    _spine(canvas, rng, b)
    return body


def _spine(canvas: Canvas, rng: np.random.Generator, b: float) -> None:
    y = -(b - rng.uniform(0.15, 0.25))
    r = rng.uniform(0.06, 0.1)
    canvas.paint(canvas.ellipse(r, r * rng.uniform(0.8, 1.1), 0, y), rng.uniform(500, 1200))
    core = canvas.ellipse(r * 0.7, r * 0.6, 0, y)  # cancellous bone
    canvas.paint(core, rng.uniform(150, 400))
    canvas.texture(core, rng, amplitude=rng.uniform(0, 100), correlation=rng.uniform(0.5, 1.5))


def _ellipses(canvas: Canvas, rng: np.random.Generator) -> np.ndarray:
    family = EllipseFamily(inserts=(int(rng.integers(1, 6)), int(rng.integers(6, 20))),
                           insert_axes=(0.02, rng.uniform(0.15, 0.4)))
    (_, *outline), *inserts = family.sample(rng)  # CT numbers are drawn again below, on wider ranges
    a, b, x0, y0, angle = outline
    body = canvas.ellipse(a, b, x0, y0, np.deg2rad(angle))
    canvas.paint(body, rng.uniform(-100, 80))
    for _, a, b, x0, y0, angle in inserts:
        canvas.paint(canvas.ellipse(a, b, x0, y0, np.deg2rad(angle)), rng.uniform(-900, 1500))
    return body


def _blobs(canvas: Canvas, rng: np.random.Generator) -> np.ndarray:
    def outline(n: int, smoothness: float) -> np.ndarray:
        return np.column_stack([rng.uniform(0, smoothness, n) / np.arange(1, n + 1), rng.uniform(0, 2 * np.pi, n)])

    body = canvas.blob(rng.uniform(0.55, 0.8), 0, 0, outline(6, 0.25))
    canvas.paint(body, rng.uniform(-150, 100))
    for _ in range(rng.integers(2, 12)):
        r = rng.uniform(0.04, 0.3)
        centre = rng.uniform(-0.45, 0.45, size=2)
        canvas.paint(canvas.blob(r, *centre, outline(int(rng.integers(2, 9)), 0.6)) & body,
                     rng.uniform(-1000, 1500))
    return body


def _clutter(canvas: Canvas, rng: np.random.Generator, body: np.ndarray) -> None:
    """Small ellipses (vessels, calcifications, fat strands) inside ``body``, contrasts relative to their place."""
    points = np.argwhere(body)
    for _ in range(rng.poisson(15) if len(points) else 0):
        point = tuple(points[rng.integers(len(points))])
        r = rng.uniform(0.006, 0.03)
        contrast = rng.choice([rng.uniform(-150, -20), rng.uniform(20, 150), rng.uniform(150, 800)], p=[0.3, 0.5, 0.2])
        canvas.paint(canvas.ellipse(r, r * rng.uniform(0.4, 2.5), canvas.u[point], canvas.v[point],
                                    rng.uniform(0, np.pi)) & body, canvas.hu[point] + contrast)


_LAYOUTS = {"head": _head, "thorax": _thorax, "abdomen": _abdomen, "ellipses": _ellipses, "blobs": _blobs}


def mixed_phantom(
    shape: int | tuple[int, int],
    *,
    seed: int | Sequence[int] | np.random.Generator,
    layouts: Sequence[str] = MIXED_LAYOUTS,
    supersampling: int = 2,
    grain: bool = False,
) -> np.ndarray:
    """One random phantom of the ``mixed`` training family, on LoDoPaB's normalised scale.

    Parameters
    ----------
    shape : int or (int, int)
        Output ``(nx, ny)``, x-first, covering ``[-1, 1]^2``.
    seed : int, sequence of int or numpy.random.Generator
        The same seed gives the same image.
    layouts : sequence of str
        Layouts to draw from (default all of :data:`MIXED_LAYOUTS`).
    supersampling : int
        Samples per pixel along each axis, averaged (anti-aliasing).
    grain : bool
        Add fine grain to the body (the ``mixed-grain`` family). Its random
        draws come last, so a seed gives the same phantom with and without.

    Returns
    -------
    numpy.ndarray, shape (nx, ny), float32
        Values in [0, 1].

    Examples
    --------
    >>> mixed_phantom(64, seed=0).shape
    (64, 64)
    """
    unknown = sorted(set(layouts) - set(_LAYOUTS))
    if unknown or not layouts or supersampling < 1:
        raise ValueError(f"mixed_phantom: expected layouts among {MIXED_LAYOUTS} and supersampling >= 1, "
                         f"got {list(layouts)} and {supersampling}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    layout = layouts[rng.integers(len(layouts))]
    if rng.uniform() < MAGNIFIED_FRACTION:  # a close-up of any part of the body
        scale = float(np.exp(rng.uniform(*np.log(MAGNIFICATION))))
        radius, phi = 0.5 * scale * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
        shift = (radius * np.cos(phi), radius * np.sin(phi))
    else:
        scale, shift = rng.uniform(0.75, 1.08), tuple(rng.uniform(-0.06, 0.06, size=2))
    canvas = Canvas(_as_pair(shape), supersampling, rotation=rng.uniform(0, 2 * np.pi), flip=bool(rng.integers(2)),
                    scale=scale, shift=shift, textured=bool(rng.uniform() < TEXTURED_FRACTION))
    body = _LAYOUTS[layout](canvas, rng)
    if rng.uniform() < CLUTTER_FRACTION:
        _clutter(canvas, rng, body)
    canvas.texture(body, rng, amplitude=rng.uniform(0, 25), correlation=rng.uniform(0.5, 6))
    if grain:
        canvas.grain(body, rng, amplitude=float(np.exp(rng.uniform(*np.log(GRAIN_HU)))),
                     correlation=rng.uniform(*GRAIN_CORRELATION))
    return canvas.image()
