"""Immutable acquisition geometries: values, presets, validation and the facts of each beam kind.

Their ASTRA form is built in :mod:`recon.operators.backends.astra_geometry`,
their ODL form in :mod:`recon.operators.odl_geometry`. This module imports
neither torch, ASTRA nor ODL at module level.

Coordinates
-----------
Images are stored **x-first**, as ODL and LoDoPaB-CT store them: an image
array ``f`` of shape ``(H, W) = (nx, ny)`` holds ``f[i, j] = f(x_i, y_j)`` with
``x_i`` increasing with ``i`` and ``y_j`` increasing with ``j``. Volumes are
``(nx, ny, nz)`` with the rotation axis along ``z``. Lengths are in metres and
angles in radians.

At angle ``theta`` the detector axis is ``a = (cos theta, sin theta)`` and the
rays travel along ``d = (-sin theta, cos theta)`` (ODL's convention). For
parallel beam the sinogram is therefore the Radon transform

.. math:: p(\\theta, s) = \\int f(s\\,a(\\theta) + t\\,d(\\theta))\\,dt .

Sinograms are ``(num_angles, num_detectors)`` in 2D and
``(num_angles, num_detectors_u, num_detectors_v)`` in 3D, ``v`` along the
rotation axis.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

__all__ = ["Geometry", "BeamKind", "KINDS", "KindFacts", "SMALL_PRESET"]

BeamKind = Literal["parallel", "fan", "parallel3d", "cone"]
#: recon's small preset, the size options of :meth:`Geometry.lodopab_small`: LoDoPaB-CT's field of
#: view at 128x128 pixels, 360 angles over 180 degrees and 183 detector bins. The shipped models,
#: the demo, the benchmark protocols and the commands' defaults use it.
SMALL_PRESET = {"image_size": 128, "num_angles": 360, "num_detectors": 183}


@dataclass(frozen=True)
class KindFacts:
    """What recon's layers need to know of one beam kind: one row of :data:`KINDS`.

    Attributes
    ----------
    dimension : int
        2 (images ``(nx, ny)``, a line detector) or 3 (volumes, a flat panel).
    divergent : bool
        Rays from a point source (fan, cone) rather than parallel.
    default_projector : str
        The ASTRA projector :class:`~recon.RayTransform` uses unless told:
        ``"linear"`` (parallel) or ``"line"`` (fan), CPU projectors also
        behind the sparse backend; ``"line"`` for the 3D kinds, whose CUDA
        projector ignores the name.
    cuda_backend : {"astra", "sparse"}
        How CUDA tensors are projected: by ASTRA's CUDA projector, or by the
        exact sparse matrix of the CPU projector (fan beam: ASTRA's CUDA
        fan-beam pair is not adjoint). The 3D kinds run on CUDA only.
    fbp : {"parallel", "fan"} or None
        The weighting :func:`recon.algorithms.fbp` applies; None: no FBP.
    """

    dimension: int
    divergent: bool
    default_projector: str
    cuda_backend: Literal["astra", "sparse"]
    fbp: Literal["parallel", "fan"] | None


#: Every beam kind's facts: the one place that says what a kind supports. Adding a kind means a
#: row here, its constructor and validation in this module, and the backends that implement it.
KINDS: dict[str, KindFacts] = {
    "parallel": KindFacts(dimension=2, divergent=False, default_projector="linear", cuda_backend="astra",
                          fbp="parallel"),
    "fan": KindFacts(dimension=2, divergent=True, default_projector="line", cuda_backend="sparse", fbp="fan"),
    "parallel3d": KindFacts(dimension=3, divergent=False, default_projector="line", cuda_backend="astra", fbp=None),
    "cone": KindFacts(dimension=3, divergent=True, default_projector="line", cuda_backend="astra", fbp=None),
}

#: Half side length of LoDoPaB-CT's image domain [-0.13, 0.13]^2, in metres.
LODOPAB_HALF_EXTENT = 0.13


def _check_source_outside(source_radius: float, radius: float) -> None:
    """Refuse a source on or inside the centred circle (in-plane) of ``radius`` metres around the image domain."""
    if source_radius <= radius:
        raise ValueError(f"source_radius {source_radius} m lies inside the image domain (radius {radius:.4g} m)")


def _midpoint_angles(num_angles: int, start: float, stop: float) -> tuple[float, ...]:
    num_angles = _as_count(num_angles, "num_angles")
    step = (stop - start) / num_angles
    return tuple(float(start + (k + 0.5) * step) for k in range(num_angles))


def _square_pixel_domain(shape: tuple[int, ...], half_extent: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Centred domain, ``half_extent`` along x, with square pixels along the other axes."""
    pixel = 2 * half_extent / shape[0]
    half = tuple(0.5 * pixel * n for n in shape)
    return tuple(-h for h in half), half


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _as_shape(value: int | tuple[int, ...] | list[int], ndim: int, name: str) -> tuple[int, ...]:
    """``value`` as ``ndim`` positive sizes: one int for all axes, or a sequence of ``ndim`` ints.

    Raises
    ------
    ValueError
        ``"image_size: expected a positive int or 2 positive ints, got 10.5"``.
    """
    sizes = tuple(value) if isinstance(value, (tuple, list, np.ndarray)) else (value,) * ndim
    if len(sizes) != ndim or not all(_is_int(n) and n > 0 for n in sizes):
        raise ValueError(f"{name}: expected a positive int or {ndim} positive ints, got {value!r}")
    return tuple(int(n) for n in sizes)


def _as_count(value: int, name: str) -> int:
    """``value`` if it is a positive int; else ``ValueError`` naming ``name``."""
    if not (_is_int(value) and value > 0):
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


@dataclass(frozen=True, kw_only=True)
class Geometry:
    """A tomographic acquisition geometry: image grid, angles and detector.

    Build one with the presets :meth:`parallel`, :meth:`lodopab`, :meth:`fan`,
    :meth:`parallel3d` and :meth:`cone` rather than with the constructor.

    Parameters
    ----------
    kind : {"parallel", "fan", "parallel3d", "cone"}
        Beam type. ``fan`` and ``cone`` use a flat detector.
    image_shape : tuple of int
        Grid size ``(nx, ny)`` or ``(nx, ny, nz)``, x-first.
    image_min, image_max : tuple of float
        Corners of the image domain, in metres.
    angles : tuple of float
        Projection angles, in radians.
    detector_shape : tuple of int
        ``(num_detectors,)`` in 2D, ``(num_u, num_v)`` in 3D.
    detector_min, detector_max : tuple of float
        Extent of the detector along its axes, in metres, measured on the
        detector (not at the isocentre).
    source_radius, detector_radius : float
        Distance from the rotation centre to the source and to the detector
        centre, in metres (divergent beams only; 0 for parallel beams).

    Notes
    -----
    Values are validated on construction and the object is immutable and
    hashable, so it can key caches. Every length is in metres.

    Examples
    --------
    >>> g = Geometry.parallel(image_size=128, num_angles=360, num_detectors=183)
    >>> g.sinogram_shape
    (360, 183)
    >>> Geometry.from_json(g.to_json()) == g
    True
    """

    kind: BeamKind
    image_shape: tuple[int, ...]
    image_min: tuple[float, ...]
    image_max: tuple[float, ...]
    angles: tuple[float, ...] = field(repr=False)
    detector_shape: tuple[int, ...]
    detector_min: tuple[float, ...]
    detector_max: tuple[float, ...]
    source_radius: float = 0.0
    detector_radius: float = 0.0

    def __post_init__(self) -> None:
        for name in ("image_shape", "detector_shape"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        for name in ("image_min", "image_max", "angles", "detector_min", "detector_max"):
            object.__setattr__(self, name, tuple(float(v) for v in np.ravel(getattr(self, name))))
        object.__setattr__(self, "source_radius", float(self.source_radius))
        object.__setattr__(self, "detector_radius", float(self.detector_radius))
        self._validate()

    def _validate(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {tuple(KINDS)}, got {self.kind!r}")
        ndim = KINDS[self.kind].dimension
        expected = {
            "image_shape": ndim,
            "image_min": ndim,
            "image_max": ndim,
            "detector_shape": ndim - 1,
            "detector_min": ndim - 1,
            "detector_max": ndim - 1,
        }
        for name, length in expected.items():
            if len(getattr(self, name)) != length:
                raise ValueError(
                    f"{name}: a {self.kind} geometry expects {length} values, "
                    f"got {len(getattr(self, name))}"
                )
        if any(n <= 0 for n in self.image_shape):
            raise ValueError(f"image_shape: expected positive sizes, got {self.image_shape}")
        if any(n <= 0 for n in self.detector_shape):
            raise ValueError(
                f"detector_shape: expected positive sizes, got {self.detector_shape}"
            )
        if len(self.angles) == 0:
            raise ValueError("angles: expected at least one projection angle, got none")
        if not all(math.isfinite(a) for a in self.angles):
            raise ValueError("angles: expected finite values (radians), got NaN or inf")
        if any(lo >= hi for lo, hi in zip(self.image_min, self.image_max)):
            raise ValueError(
                f"image extent: expected image_min < image_max, got {self.image_min} "
                f"and {self.image_max}"
            )
        if any(lo >= hi for lo, hi in zip(self.detector_min, self.detector_max)):
            raise ValueError(
                f"detector extent: expected detector_min < detector_max, got "
                f"{self.detector_min} and {self.detector_max}"
            )
        cell = self.pixel_size
        if not np.allclose(cell, cell[0], rtol=1e-6):
            raise ValueError(f"pixels must be square (ASTRA), got pixel sizes {cell} m")
        if self.facts.divergent:
            if self.source_radius <= 0 or self.detector_radius < 0:
                raise ValueError(
                    "a divergent beam needs source_radius > 0 and detector_radius >= 0, "
                    f"got {self.source_radius} and {self.detector_radius} m"
                )
            _check_source_outside(self.source_radius, self.image_radius)
        elif self.source_radius != 0 or self.detector_radius != 0:
            raise ValueError(
                f"a {self.kind} geometry takes no source/detector radius, got "
                f"{self.source_radius} and {self.detector_radius}"
            )

    # ------------------------------------------------------------------ presets
    @classmethod
    def parallel(
        cls,
        *,
        image_size: int | tuple[int, int] = 362,
        num_angles: int = 1000,
        num_detectors: int = 513,
        half_extent: float = LODOPAB_HALF_EXTENT,
        detector_half_width: float | None = None,
        angle_range: tuple[float, float] = (0.0, math.pi),
    ) -> Geometry:
        """2D parallel beam on LoDoPaB-CT's field of view.

        Parameters
        ----------
        image_size : int or (int, int)
            Image grid ``(nx, ny)``; an int gives a square grid. Pixels are
            square: a non-square grid keeps ``half_extent`` along x.
        num_angles : int
            Number of angles at the midpoints of ``angle_range``.
        num_detectors : int
            Number of detector bins.
        half_extent : float
            The image domain spans ``[-half_extent, half_extent]`` metres along
            x (LoDoPaB: 0.13).
        detector_half_width : float, optional
            Detector spans ``±detector_half_width`` metres; default the domain's
            half diagonal ``half_extent * sqrt(2)`` (ODL's
            ``parallel_beam_geometry``).
        angle_range : (float, float)
            Angular interval in radians.

        Returns
        -------
        Geometry
        """
        shape = _as_shape(image_size, 2, "image_size")
        num_detectors = _as_count(num_detectors, "num_detectors")
        image_min, image_max = _square_pixel_domain(shape, half_extent)
        if detector_half_width is None:
            detector_half_width = math.hypot(*image_max)
        return cls(
            kind="parallel",
            image_shape=shape,
            image_min=image_min,
            image_max=image_max,
            angles=_midpoint_angles(num_angles, *angle_range),
            detector_shape=(num_detectors,),
            detector_min=(-detector_half_width,),
            detector_max=(detector_half_width,),
        )

    @classmethod
    def lodopab(cls) -> Geometry:
        """Exactly LoDoPaB-CT: 362x362 on [-0.13, 0.13]^2 m, 1000 angles, 513 bins."""
        return cls.parallel(image_size=362, num_angles=1000, num_detectors=513)

    @classmethod
    def lodopab_small(cls) -> Geometry:
        """recon's small preset (:data:`SMALL_PRESET`): LoDoPaB-CT's field of view at 128x128, 360 angles, 183 bins.

        Examples
        --------
        >>> Geometry.lodopab_small().sinogram_shape
        (360, 183)
        """
        return cls.parallel(**SMALL_PRESET)

    @classmethod
    def fan(
        cls,
        *,
        image_size: int | tuple[int, int] = 256,
        num_angles: int = 360,
        num_detectors: int = 512,
        source_radius: float = 0.5,
        detector_radius: float = 0.5,
        half_extent: float = LODOPAB_HALF_EXTENT,
        detector_half_width: float | None = None,
        angle_range: tuple[float, float] = (0.0, 2 * math.pi),
    ) -> Geometry:
        """2D fan beam with a flat detector.

        Parameters
        ----------
        source_radius, detector_radius : float
            Source-to-centre and centre-to-detector distances, metres.
        detector_half_width : float, optional
            Default: just wide enough to see the whole circle around the image
            domain from the source.
        Other parameters as in :meth:`parallel`; angles cover a full turn.
        """
        shape = _as_shape(image_size, 2, "image_size")
        num_detectors = _as_count(num_detectors, "num_detectors")
        image_min, image_max = _square_pixel_domain(shape, half_extent)
        if detector_half_width is None:
            rho = math.hypot(*image_max)
            _check_source_outside(source_radius, rho)
            alpha = math.asin(rho / source_radius)
            detector_half_width = (source_radius + detector_radius) * math.tan(alpha)
        return cls(
            kind="fan",
            image_shape=shape,
            image_min=image_min,
            image_max=image_max,
            angles=_midpoint_angles(num_angles, *angle_range),
            detector_shape=(num_detectors,),
            detector_min=(-detector_half_width,),
            detector_max=(detector_half_width,),
            source_radius=source_radius,
            detector_radius=detector_radius,
        )

    @classmethod
    def parallel3d(
        cls,
        *,
        volume_size: int | tuple[int, int, int] = 128,
        num_angles: int = 180,
        detector_size: int | tuple[int, int] = 183,
        half_extent: float = LODOPAB_HALF_EXTENT,
        angle_range: tuple[float, float] = (0.0, math.pi),
    ) -> Geometry:
        """3D parallel beam rotating about ``z`` (ASTRA CUDA backend only).

        The detector spans the volume's half diagonal in ``u`` and the volume's
        height in ``v``.
        """
        shape = _as_shape(volume_size, 3, "volume_size")
        det = _as_shape(detector_size, 2, "detector_size")
        image_min, image_max = _square_pixel_domain(shape, half_extent)
        half_u, half_v = math.hypot(*image_max[:2]), image_max[2]
        return cls(
            kind="parallel3d",
            image_shape=shape,
            image_min=image_min,
            image_max=image_max,
            angles=_midpoint_angles(num_angles, *angle_range),
            detector_shape=det,
            detector_min=(-half_u, -half_v),
            detector_max=(half_u, half_v),
        )

    @classmethod
    def cone(
        cls,
        *,
        volume_size: int | tuple[int, int, int] = 128,
        num_angles: int = 360,
        detector_size: int | tuple[int, int] = (256, 256),
        source_radius: float = 0.5,
        detector_radius: float = 0.5,
        half_extent: float = LODOPAB_HALF_EXTENT,
        angle_range: tuple[float, float] = (0.0, 2 * math.pi),
    ) -> Geometry:
        """3D circular cone beam with a flat detector (ASTRA CUDA backend only)."""
        shape = _as_shape(volume_size, 3, "volume_size")
        det = _as_shape(detector_size, 2, "detector_size")
        image_min, image_max = _square_pixel_domain(shape, half_extent)
        half_z = image_max[2]
        rho = math.hypot(*image_max[:2])
        _check_source_outside(source_radius, rho)
        magnification = (source_radius + detector_radius) / (source_radius - rho)
        half_u = (source_radius + detector_radius) * math.tan(math.asin(rho / source_radius))
        half_v = half_z * magnification
        return cls(
            kind="cone",
            image_shape=shape,
            image_min=image_min,
            image_max=image_max,
            angles=_midpoint_angles(num_angles, *angle_range),
            detector_shape=det,
            detector_min=(-half_u, -half_v),
            detector_max=(half_u, half_v),
            source_radius=source_radius,
            detector_radius=detector_radius,
        )

    # --------------------------------------------------------------- properties
    @property
    def ndim(self) -> int:
        """Spatial dimension of the image: 2 or 3."""
        return len(self.image_shape)

    @property
    def num_angles(self) -> int:
        return len(self.angles)

    @property
    def num_detectors(self) -> int:
        """Number of detector bins in 2D; ``num_u * num_v`` in 3D."""
        return int(np.prod(self.detector_shape))

    @property
    def sinogram_shape(self) -> tuple[int, ...]:
        """``(num_angles, num_detectors)`` or ``(num_angles, num_u, num_v)``."""
        return (self.num_angles, *self.detector_shape)

    def describe(self) -> str:
        """Short text of the sizes, e.g. ``"parallel 128x128 image, 360 angles, 183 bins"``."""
        image = "x".join(map(str, self.image_shape))
        bins = "x".join(map(str, self.detector_shape))
        return f"{self.kind} {image} image, {self.num_angles} angles, {bins} bins"

    @property
    def facts(self) -> KindFacts:
        """What recon knows of this geometry's beam kind (:data:`KINDS`)."""
        return KINDS[self.kind]

    @property
    def is_divergent(self) -> bool:
        return self.facts.divergent

    @property
    def pixel_size(self) -> tuple[float, ...]:
        """Image cell side lengths, metres."""
        return tuple(
            (hi - lo) / n for lo, hi, n in zip(self.image_min, self.image_max, self.image_shape)
        )

    @property
    def detector_spacing(self) -> tuple[float, ...]:
        """Detector bin widths, metres."""
        return tuple(
            (hi - lo) / n
            for lo, hi, n in zip(self.detector_min, self.detector_max, self.detector_shape)
        )

    @property
    def image_radius(self) -> float:
        """Radius of the smallest centred circle around the image domain, metres."""
        corners = np.maximum(np.abs(self.image_min), np.abs(self.image_max))
        return float(np.hypot(*corners[:2]))

    # ----------------------------------------------------------- derived values
    def with_angles(self, angles: tuple[float, ...] | np.ndarray) -> Geometry:
        """The same geometry with other projection angles (radians)."""
        return replace(self, angles=tuple(float(a) for a in np.ravel(angles)))

    def angle_subset(self, step: int, offset: int = 0) -> Geometry:
        """Sparse view: every ``step``-th angle starting at ``offset``.

        Parameters
        ----------
        step : int
            Keep one angle in ``step``; e.g. ``Geometry.lodopab().angle_subset(20)``
            keeps 50 of LoDoPaB's 1000 angles.
        offset : int
            Index of the first kept angle, ``0 <= offset < step``.
        """
        if not isinstance(step, (int, np.integer)) or step < 1:
            raise ValueError(f"step: expected a positive integer, got {step!r}")
        if not 0 <= offset < step:
            raise ValueError(f"offset: expected 0 <= offset < {step}, got {offset}")
        return self.with_angles(self.angles[offset::step])

    # ------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON description (lists and numbers)."""
        return {key: list(v) if isinstance(v, tuple) else v for key, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Geometry:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on unknown or missing keys."""
        if not isinstance(data, dict):
            raise TypeError(f"expected a dict describing a Geometry, got {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown Geometry fields {sorted(unknown)}; expected {sorted(known)}")
        try:
            return cls(**data)
        except TypeError as err:
            raise ValueError(f"incomplete Geometry description: {err}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Geometry:
        return cls.from_dict(json.loads(text))

    def fingerprint(self) -> str:
        """Short stable hash of the geometry, for cache keys."""
        import hashlib

        return hashlib.sha256(self.to_json().encode()).hexdigest()[:20]

    # ---------------------------------------------------------------- geometry
    def directions(self) -> tuple[np.ndarray, np.ndarray]:
        """Detector axis ``a`` and ray direction ``d`` per angle, each shape (A, 2), unit vectors in ``(x, y)``."""
        theta = np.asarray(self.angles, dtype=np.float64)
        a = np.stack([np.cos(theta), np.sin(theta)], axis=1)
        d = np.stack([-np.sin(theta), np.cos(theta)], axis=1)
        return a, d

    def detector_centre_offset(self) -> tuple[float, ...]:
        """The detector's centre along each detector axis, metres (0 for a centred detector)."""
        return tuple(0.5 * (lo + hi) for lo, hi in zip(self.detector_min, self.detector_max))

    # ---------------------------------------------------------------------- ODL
    @classmethod
    def from_odl(cls, space, odl_geometry) -> Geometry:
        """Deprecated: :func:`recon.operators.odl_bridge.geometry_from_odl` (this name goes in the next release)."""
        _warn_moved("Geometry.from_odl(space, odl_geometry)", "geometry_from_odl(space, odl_geometry)")
        from recon.operators.odl_geometry import geometry_from_odl  # the deprecated names' one upward import

        return geometry_from_odl(space, odl_geometry)

    def to_odl(self):
        """Deprecated: :func:`recon.operators.odl_bridge.geometry_to_odl` (this name goes in the next release)."""
        _warn_moved("geometry.to_odl()", "geometry_to_odl(geometry)")
        from recon.operators.odl_geometry import geometry_to_odl  # the deprecated names' one upward import

        return geometry_to_odl(self)


def _warn_moved(old: str, new: str) -> None:
    """The DeprecationWarning of a conversion to ODL that moved into :mod:`recon.operators.odl_bridge`."""
    warnings.warn(f"{old} is now recon.operators.odl_bridge.{new}; the old name goes in the next release",
                  DeprecationWarning, stacklevel=3)
