"""recon's named image families: how to draw sample ``i`` of each, and what each may be used for.

Every family has a *role*, the one thing it may be used for, so that no
evaluation can flatter a model:

* ``training``: models train on it (``mixed``, the diverse family of the
  shipped models, ``mixed-grain``, the same with CT grain, and ``ellipses``,
  one of its layouts);
* ``validation``: evaluation only, for every choice made without test data
  -- TV weights, defaults, best checkpoints (``pelvis``, ``polygons``);
* ``test``: evaluation only, never used for a choice
  (``overlapping-ellipses``, ``shepp-logan``, ``forbild``, ``anatomy``: real
  CT slices prepared LoDoPaB-CT's way).

Training refuses evaluation families (:func:`check_families`) and benchmark
protocols refuse a model whose checkpoint names a test family among those it
was trained or validated on. Families are random (a new image per seed),
fixed (one image) or a collection (a finite list, taken in turn).

Sample ``i`` of a source drawing from several families takes them in turn,
family ``i mod F``; its phantom seed comes from :func:`~recon.data.seeds.sample_seeds`
of ``i`` (so it never depends on batching), and a collection's member is
``(i // F) mod size``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Literal

import numpy as np

from recon.data.evaluation_phantoms import overlapping_ellipses, pelvis_phantom, polygon_phantom
from recon.data.phantoms import forbild, random_ellipses, shepp_logan
from recon.data.seeds import sample_seeds
from recon.data.training_phantoms import mixed_phantom
from recon.geometry import Geometry

__all__ = ["FAMILIES", "PHANTOMS", "RANDOM_PHANTOMS", "Family", "FamilyRole", "PhantomName", "PhantomSource",
           "check_families", "family", "phantom", "recorded_families"]

FamilyRole = Literal["training", "validation", "test"]
PhantomName = Literal["mixed", "mixed-grain", "ellipses", "pelvis", "polygons", "overlapping-ellipses", "shepp-logan", "forbild",
                      "anatomy"]


@dataclass(frozen=True)
class Family:
    """One named image family.

    Attributes
    ----------
    name : str
    role : {"training", "validation", "test"}
        What it may be used for (see the module documentation).
    description : str
        One line for tables and ``--help``.
    draw : callable
        ``draw(geometry, member, phantom_seed) -> image (nx, ny)`` float32 in
        [0, 1]: a random family draws from ``phantom_seed``, a collection
        returns member ``member``, a fixed family ignores both.
    kind : {"random", "fixed", "collection"}
    """

    name: str
    role: FamilyRole
    description: str
    draw: Callable[[Geometry, int, int], np.ndarray]
    kind: Literal["random", "fixed", "collection"] = "random"


@lru_cache(maxsize=16)
def _fixed_image(name: str, geometry: Geometry) -> np.ndarray:
    image = shepp_logan(geometry.image_shape) if name == "shepp-logan" else forbild(geometry)
    image.flags.writeable = False
    return image


def _anatomy_member(geometry: Geometry, member: int, _seed: int) -> np.ndarray:
    from recon.data.anatomy import anatomy_images

    images, _ = anatomy_images(geometry)
    if not len(images):
        raise ValueError("the 'anatomy' family needs pydicom and pydicom-data (dependencies of recon)")
    return images[member % len(images)]


def _random(generator: Callable[..., np.ndarray]) -> Callable[[Geometry, int, int], np.ndarray]:
    return lambda geometry, _member, seed: generator(geometry.image_shape, seed=seed)


#: Every family by name, in the order of ``--phantom`` choices.
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("mixed", "training", "diverse synthetic anatomy: heads, thoraxes, abdomens, ellipse bodies, blobs",
           _random(mixed_phantom)),
    Family("mixed-grain", "training", "mixed with the fine grain of a normal-dose CT reconstruction in every body",
           _random(partial(mixed_phantom, grain=True))),
    Family("ellipses", "training", "random ellipse bodies with painted inserts (a layout of mixed)",
           _random(lambda shape, seed: random_ellipses(shape, seed=seed))),
    Family("pelvis", "validation", "pelvis: fat, muscle, bladder, rectum, hips, sacrum",
           _random(pelvis_phantom)),
    Family("polygons", "validation", "straight-edged polygons of random CT numbers in a polygonal body",
           _random(polygon_phantom)),
    Family("overlapping-ellipses", "test", "many random ellipses whose contrasts add (after Adler & Oktem)",
           _random(overlapping_ellipses)),
    Family("shepp-logan", "test", "the modified Shepp-Logan phantom",
           lambda geometry, _member, _seed: _fixed_image("shepp-logan", geometry), kind="fixed"),
    Family("forbild", "test", "the FORBILD head phantom (ODL)",
           lambda geometry, _member, _seed: _fixed_image("forbild", geometry), kind="fixed"),
    Family("anatomy", "test", "real CT slices of pydicom and pydicom-data, LoDoPaB-CT's crops",
           _anatomy_member, kind="collection"),
)}
#: The family names.
PHANTOMS: tuple[str, ...] = tuple(FAMILIES)
#: The families that differ from seed to seed.
RANDOM_PHANTOMS: tuple[str, ...] = tuple(name for name, f in FAMILIES.items() if f.kind == "random")


def family(name: str) -> Family:
    """The family called ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise ValueError(f"phantom family: expected one of {PHANTOMS}, got {name!r}") from None


def check_families(names: Iterable[str], roles: Sequence[FamilyRole], what: str) -> None:
    """Raise ``ValueError`` if a registered family among ``names`` has a role outside ``roles``.

    Names that are not registered families (a user's DICOM data, LoDoPaB-CT)
    pass: their role is the user's to decide.
    """
    refused = [f"{name} ({FAMILIES[name].role})" for name in names
               if name in FAMILIES and FAMILIES[name].role not in roles]
    if refused:
        allowed = sorted(name for name, f in FAMILIES.items() if f.role in roles)
        raise ValueError(f"{what}: the families {refused} are reserved for evaluation; use {allowed}")


def recorded_families(physics: dict) -> tuple[str, ...]:
    """The families a file's or checkpoint's ``physics`` record names (``"phantom"``: a name or a list)."""
    names = physics.get("phantom", ())
    return (names,) if isinstance(names, str) else tuple(map(str, names))


def phantom(name: PhantomName, geometry: Geometry, *, seed: int | Sequence[int] | None = None) -> np.ndarray:
    """One image of a family on a geometry's grid.

    Parameters
    ----------
    name : str
        A family of :data:`FAMILIES`.
    geometry : Geometry
        2D geometry giving the grid.
    seed : int or sequence of int, optional
        The phantom seed of a random family (required); the member of a
        collection (default 0); ignored by fixed families.

    Returns
    -------
    numpy.ndarray, shape (nx, ny), float32

    Examples
    --------
    >>> phantom("pelvis", Geometry.parallel(image_size=32), seed=0).shape
    (32, 32)
    """
    chosen = family(name)
    if chosen.kind == "random" and seed is None:
        raise ValueError(f"the {name!r} phantom is random: pass a seed")
    member = int(seed) if chosen.kind == "collection" and isinstance(seed, (int, np.integer)) else 0
    return np.array(chosen.draw(geometry, member, seed), dtype=np.float32)


@dataclass(frozen=True)
class PhantomSource:
    """``source(i)``: ground truth ``i`` drawn from one or more families, reproducibly (picklable).

    Several families are taken in turn (see the module documentation).

    Parameters
    ----------
    name : str or tuple of str
        Family name(s) of :data:`FAMILIES`.
    geometry : Geometry
    seed : int
        Root seed.
    stream : int
        Seed stream (one per split).
    """

    name: str | tuple[str, ...]
    geometry: Geometry
    seed: int
    stream: int = 0

    def __post_init__(self) -> None:
        if not self.families:
            raise ValueError("phantom families: expected at least one name, got none")
        for name in self.families:
            family(name)

    @property
    def families(self) -> tuple[str, ...]:
        """The family names, in turn."""
        return (self.name,) if isinstance(self.name, str) else tuple(self.name)

    def family_of(self, index: int) -> str:
        """The family of sample ``index``."""
        return self.families[index % len(self.families)]

    def __call__(self, index: int) -> np.ndarray:
        """Image ``index``, shape ``(nx, ny)``, float32."""
        member = index // len(self.families)
        phantom_seed = sample_seeds(self.seed, index, stream=self.stream)[0]
        return np.array(family(self.family_of(index)).draw(self.geometry, member, phantom_seed), dtype=np.float32)
