"""Benchmark protocols as typed values: which images test, which validate, which methods, which targets.

A :class:`Protocol` fixes everything a published comparison depends on, so
that :func:`~recon.benchmark.protocol_run.run_protocol` can regenerate it
and nothing in it can be chosen on the test images:

* ``test``: an :class:`ImageSet` of *test* families only
  (:mod:`recon.data.families`): scored, never used for a choice;
* ``validation``: an :class:`ImageSet` of *validation* families only: TV's
  data term and weight are tuned on it;
* ``tv_grid``: the :class:`TvGrid` of that tuning, and of the TV *oracle*,
  the same grid searched on the test images themselves: a rival stricter
  than any tuning could be, not a method;
* ``targets``: :class:`Target` margins of one method over another, checked
  with paired bootstrap confidence intervals (:class:`Bootstrap`).

The shared defaults (:data:`PRESET`, :data:`TEST_IMAGES`,
:data:`VALIDATION_IMAGES`, :data:`TV_GRID`) are recon's standard
evaluation; ``experiments/protocols/*.py`` build on them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from recon.benchmark.comparison import Bootstrap
from recon.benchmark.methods import spec_parameters
from recon.data.families import PhantomSource, check_families, family
from recon.data.simulated import Simulation, simulate_images
from recon.geometry import Geometry
from recon.operators import RayTransform

__all__ = ["PRESET", "TEST_IMAGES", "TV_DEFAULT", "TV_GRID", "TV_ITERATIONS", "TV_ORACLE", "TV_ROWS",
           "TV_VALIDATED", "VALIDATION_IMAGES", "Bootstrap", "ImageSet", "Protocol", "Target", "TvGrid",
           "doublings"]

#: Rival names of the three TV rows every protocol has: TV with its defaults, TV tuned
#: on the validation images, and the oracle (the grid's best on the test images).
TV_DEFAULT, TV_VALIDATED, TV_ORACLE = "tv-default", "tv-validated", "tv-oracle"
TV_ROWS = (TV_DEFAULT, TV_VALIDATED, TV_ORACLE)


def doublings(first: float, count: int) -> tuple[float, ...]:
    """``count`` values from ``first``, each twice the last (6 significant digits).

    Examples
    --------
    >>> doublings(1.25e-5, 4)
    (1.25e-05, 2.5e-05, 5e-05, 0.0001)
    """
    return tuple(float(f"{first * 2**k:.6g}") for k in range(count))


@dataclass(frozen=True, kw_only=True)
class ImageSet:
    """Ground truths drawn in blocks of ``(family, count)``, and their noise seeds.

    Sample ``i`` of a block is ``PhantomSource(family, geometry, seed,
    stream)(i)`` (:class:`~recon.data.families.PhantomSource`): a random
    family's ``i``-th image, a collection's member ``i`` (the ``anatomy``
    family's 25 crops for counts up to 25), or the fixed phantom. The noise of
    image ``j`` of the whole set (blocks in order) is seeded by ``j``
    (:func:`~recon.data.simulated.simulate_images` with ``seed`` and ``stream``).

    Parameters
    ----------
    blocks : sequence of (str, int)
        Family name and number of images, each family once.
    seed : int
        Root seed of phantoms and noise.
    stream : int
        Seed stream.
    """

    blocks: tuple[tuple[str, int], ...]
    seed: int
    stream: int = 0

    def __post_init__(self) -> None:
        blocks = tuple((str(name), count) for name, count in self.blocks)
        object.__setattr__(self, "blocks", blocks)
        if not blocks:
            raise ValueError("image set: expected at least one (family, count) block, got none")
        for name, count in blocks:
            family(name)
            if not isinstance(count, int) or count < 1:
                raise ValueError(f"image set: expected a positive number of {name!r} images, got {count!r}")
        repeated = sorted({name for name, _ in blocks if [n for n, _ in blocks].count(name) > 1})
        if repeated:
            raise ValueError(f"image set: expected each family in one block, got {repeated} more than once "
                             "(a second block would repeat the first one's images)")

    @property
    def families(self) -> tuple[str, ...]:
        """The family of each block, in order."""
        return tuple(name for name, _ in self.blocks)

    def __len__(self) -> int:
        return sum(count for _, count in self.blocks)

    def describe(self) -> str:
        """E.g. ``"pelvis 12, polygons 12 (seed 200)"``."""
        return ", ".join(f"{name} {count}" for name, count in self.blocks) + f" (seed {self.seed})"

    def images(self, geometry: Geometry) -> tuple[np.ndarray, tuple[str, ...]]:
        """The ground truths on ``geometry``'s grid and the family of each.

        Returns
        -------
        images : numpy.ndarray, shape (N, nx, ny), float32
            Normalised attenuation, x-first; ``N = len(self)``.
        families : tuple of str, length N
        """
        images, labels = [], []
        for name, count in self.blocks:
            source = PhantomSource(name, geometry, self.seed, self.stream)
            images += [source(i) for i in range(count)]
            labels += [name] * count
        return np.stack(images), tuple(labels)

    def sinograms(self, images: np.ndarray, operator: RayTransform, photons: float) -> np.ndarray:
        """Low-dose post-log sinograms of :meth:`images` (LoDoPaB's recipe), noise seeded per image.

        Parameters
        ----------
        images : numpy.ndarray, shape (N, nx, ny)
            This set's images.
        operator : RayTransform
            The ray transform of their geometry.
        photons : float
            ``N0``, photons per bin.

        Returns
        -------
        numpy.ndarray, shape (N, num_angles, num_detectors), float32
        """
        return simulate_images(images, operator, self.simulation(photons), range(len(images)), stream=self.stream)

    def simulation(self, photons: float) -> Simulation:
        """The :class:`~recon.data.simulated.Simulation` of this set at a dose."""
        return Simulation(photons=float(photons), seed=self.seed)

    def key(self, images: np.ndarray, photons: float) -> str:
        """Identifies the simulated set (blocks, seeds, dose, a hash of the images) for resume keys."""
        digest = hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()[:16]
        return f"imageset:{self.blocks}:{self.stream}:{self.simulation(photons)}:{digest}"


@dataclass(frozen=True, kw_only=True)
class TvGrid:
    """The ``(data_term, weight)`` candidates of TV's tuning and oracle, and its iterations.

    Parameters
    ----------
    ls, wls : sequence of float
        Weights ``lambda`` to try with the data term ``"ls"`` and ``"wls"``
        (:func:`recon.tv`); one of them may be empty.
    iterations : int
        PDHG iterations of every TV row (tuned, oracle and default alike).
    """

    ls: tuple[float, ...] = ()
    wls: tuple[float, ...] = ()
    iterations: int = 300

    def __post_init__(self) -> None:
        for term in ("ls", "wls"):
            weights = tuple(float(w) for w in getattr(self, term))
            if any(not w > 0 for w in weights) or len(set(weights)) != len(weights):
                raise ValueError(f"TV grid: expected distinct positive {term} weights, got {list(weights)}")
            object.__setattr__(self, term, weights)
        if not self.ls and not self.wls:
            raise ValueError("TV grid: expected at least one weight (ls or wls), got none")
        if not isinstance(self.iterations, int) or self.iterations < 1:
            raise ValueError(f"TV grid: expected a positive number of iterations, got {self.iterations!r}")

    def candidates(self) -> list[tuple[str, tuple[float, ...]]]:
        """``(data_term, weights)`` of each data term with weights."""
        return [(term, weights) for term, weights in (("ls", self.ls), ("wls", self.wls)) if weights]


@dataclass(frozen=True, kw_only=True)
class Target:
    """A claim to check: ``method`` beats ``rival`` by ``psnr_margin`` dB in mean PSNR.

    Parameters
    ----------
    method : str
        A method spec of the protocol.
    rival : str
        Another method spec of the protocol or a TV row (:data:`TV_ROWS`).
    psnr_margin : float
        Required mean per-image PSNR difference ``method - rival``, dB.
    ssim_higher : bool
        Also require a higher mean SSIM.
    group : str
        ``"all"`` (every test image) or one test family.
    photons : sequence of float, optional
        The doses it applies to; default every dose of the protocol.
    """

    method: str
    rival: str
    psnr_margin: float
    ssim_higher: bool = False
    group: str = "all"
    photons: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.photons is not None:
            object.__setattr__(self, "photons", tuple(float(p) for p in self.photons))

    def describe(self) -> str:
        """E.g. ``"lpd-small ≥ tv-oracle + 1.5 dB (all), higher SSIM"``."""
        return (f"{self.method} ≥ {self.rival} {self.psnr_margin:+g} dB ({self.group})"
                + (", higher SSIM" if self.ssim_higher else ""))


#: The geometry of every standard protocol: 128²/360/183, the shipped models' preset.
PRESET = Geometry.lodopab_small()
#: Test images: overlapping ellipses, Shepp-Logan, FORBILD and every anatomy crop once (5 slices x 5 crops).
TEST_IMAGES = ImageSet(blocks=(("overlapping-ellipses", 16), ("shepp-logan", 4), ("forbild", 4), ("anatomy", 25)),
                       seed=100)
#: Validation images, on which TV is tuned.
VALIDATION_IMAGES = ImageSet(blocks=(("pelvis", 12), ("polygons", 12)), seed=200)
#: PDHG iterations of every TV row: the one place to change when TV converges faster.
TV_ITERATIONS = 300
#: TV's grid: factors of 2, 1.25e-5 ... 8e-4 for ``ls`` and 2.5e-7 ... 1.6e-5 for ``wls``.
TV_GRID = TvGrid(ls=doublings(1.25e-5, 7), wls=doublings(2.5e-7, 7), iterations=TV_ITERATIONS)


@dataclass(frozen=True, kw_only=True)
class Protocol:
    """Everything one published comparison depends on (see the module documentation).

    Parameters
    ----------
    name : str
        Folder name of its results (letters, digits, ``_`` and ``-``).
    description : str
        Heading of its results section.
    photons : float or sequence of float
        ``N0`` of each dose, photons per bin; each dose is benchmarked on its own.
    methods : sequence of str
        Specs as ``recon benchmark`` takes them (:mod:`recon.benchmark.methods`);
        the three TV rows are added to them.
    targets : sequence of Target
    geometry : Geometry
        2D geometry of the data (default :data:`PRESET`; ``PRESET.angle_subset(k)`` for sparse view).
    test, validation : ImageSet
        Of test, respectively validation, families only.
    tv_grid : TvGrid
    bootstrap : Bootstrap
        Settings of the paired confidence intervals.
    notes : sequence of str
        Sentences for the results section (e.g. a row left out, and why).

    Raises
    ------
    ValueError
        Families of the wrong role, unknown or repeated methods, targets naming
        methods, groups or doses the protocol does not have.
    """

    name: str
    description: str
    photons: tuple[float, ...]
    methods: tuple[str, ...]
    targets: tuple[Target, ...] = ()
    geometry: Geometry = PRESET
    test: ImageSet = TEST_IMAGES
    validation: ImageSet = VALIDATION_IMAGES
    tv_grid: TvGrid = TV_GRID
    bootstrap: Bootstrap = field(default_factory=Bootstrap)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("methods", "targets", "notes"):
            if isinstance(getattr(self, name), (str, Target)):
                raise ValueError(f"protocol {self.name!r}: expected a sequence of {name}, got one "
                                 f"{type(getattr(self, name)).__name__}: {getattr(self, name)!r}")
        photons = (self.photons,) if isinstance(self.photons, (int, float, str)) else self.photons
        for name, value in (("photons", tuple(float(p) for p in photons)), ("methods", tuple(map(str, self.methods))),
                            ("targets", tuple(self.targets)), ("notes", tuple(self.notes))):
            object.__setattr__(self, name, value)
        where = f"protocol {self.name!r}"
        if not self.name or not all(c.isalnum() or c in "_-" for c in self.name):
            raise ValueError(f"protocol name: expected letters, digits, '_' and '-', got {self.name!r}")
        if not self.photons or min(self.photons) <= 0 or len(set(self.photons)) != len(self.photons):
            raise ValueError(f"{where}: expected distinct positive photon counts, got {list(self.photons)}")
        if self.geometry.ndim != 2:
            raise ValueError(f"{where}: expected a 2D geometry, got a {self.geometry.kind} geometry")
        check_families(self.test.families, ("test",), f"{where}, test images (test families only)")
        check_families(self.validation.families, ("validation",),
                       f"{where}, validation images (validation families only)")
        if not self.methods or len(set(self.methods)) != len(self.methods):
            raise ValueError(f"{where}: expected distinct method specs, got {list(self.methods)}")
        for spec in self.methods:
            spec_parameters(spec)  # a malformed spec is refused here
        for target in self.targets:
            self._check_target(target, where)

    def _check_target(self, target: Target, where: str) -> None:
        if target.method not in self.methods:
            raise ValueError(f"{where}, target {target.describe()}: expected a method of {list(self.methods)}, "
                             f"got {target.method!r}")
        if target.rival not in (*self.methods, *TV_ROWS) or target.rival == target.method:
            raise ValueError(f"{where}, target {target.describe()}: expected a rival among "
                             f"{[*self.methods, *TV_ROWS]} other than the method, got {target.rival!r}")
        if target.group not in ("all", *self.test.families):
            raise ValueError(f"{where}, target {target.describe()}: expected the group 'all' or a test family "
                             f"of {list(self.test.families)}, got {target.group!r}")
        unknown = sorted(set(target.photons or ()) - set(self.photons))
        if unknown:
            raise ValueError(f"{where}, target {target.describe()}: expected doses among {list(self.photons)}, "
                             f"got {unknown}")

    def targets_at(self, photons: float) -> list[Target]:
        """The targets that apply at a dose."""
        return [t for t in self.targets if t.photons is None or float(photons) in t.photons]

