"""recon geometries as ODL 1.0 ``(space, geometry)`` pairs, and back.

The ODL side of :mod:`recon.operators.odl_bridge`: the one place that knows how
recon's coordinates map onto ODL's (they are ODL's conventions, so the map is
one ODL class per beam kind, chosen by the kind's facts in
:data:`recon.geometry.KINDS`, never by its name).
"""

from __future__ import annotations

import numpy as np

from recon.geometry import KINDS, Geometry

__all__ = ["geometry_to_odl", "geometry_from_odl"]

#: ODL's geometry class per (dimension, divergent) of a beam kind; divergent classes also take the radii.
ODL_CLASSES = {(2, False): "Parallel2dGeometry", (2, True): "FanBeamGeometry",
               (3, False): "Parallel3dAxisGeometry", (3, True): "ConeBeamGeometry"}


def _odl_class(geometry: Geometry):
    """ODL's geometry class for ``geometry``'s beam kind."""
    from odl.applications import tomo

    return getattr(tomo, ODL_CLASSES[geometry.facts.dimension, geometry.facts.divergent])


def geometry_to_odl(geometry: Geometry):
    """The ODL 1.0 ``(space, geometry)`` pair equivalent to a recon geometry.

    Parameters
    ----------
    geometry : Geometry
        Any beam kind.

    Returns
    -------
    space : odl.DiscretizedSpace
        float32 uniform discretisation of the image domain, shape
        ``geometry.image_shape``, extent in metres.
    odl_geometry : odl.applications.tomo.Geometry
        ``Parallel2dGeometry``, ``FanBeamGeometry`` (flat detector),
        ``Parallel3dAxisGeometry`` or ``ConeBeamGeometry`` with the same
        angles (radians), detector partition and radii (metres).

    Examples
    --------
    >>> from recon.geometry import Geometry
    >>> space, odl_geometry = geometry_to_odl(Geometry.lodopab_small())
    >>> space.shape, type(odl_geometry).__name__
    ((128, 128), 'Parallel2dGeometry')
    """
    import odl

    space = odl.uniform_discr(geometry.image_min, geometry.image_max, geometry.image_shape, dtype="float32")
    angles = np.asarray(geometry.angles)
    apart = odl.nonuniform_partition(angles) if len(angles) > 1 else odl.uniform_partition(
        angles[0] - 0.5, angles[0] + 0.5, 1
    )
    dpart = odl.uniform_partition(geometry.detector_min, geometry.detector_max, geometry.detector_shape)
    radii = (geometry.source_radius, geometry.detector_radius) if geometry.facts.divergent else ()
    return space, _odl_class(geometry)(apart, dpart, *radii)


def geometry_from_odl(space, odl_geometry) -> Geometry:
    """The recon geometry of an ODL 1.0 ``(space, geometry)`` pair: the inverse of :func:`geometry_to_odl`.

    Parameters
    ----------
    space : odl.DiscretizedSpace
        A real, 2D uniform discretisation of the image domain (square pixels).
    odl_geometry : odl.applications.tomo.Parallel2dGeometry or FanBeamGeometry
        With recon's conventions, as :func:`geometry_to_odl` builds them: a
        flat detector, no translation, ODL's default initial source and
        detector vectors (other placements are refused, not approximated).

    Returns
    -------
    Geometry
        ``geometry_to_odl(geometry_from_odl(space, g))`` reproduces ``g``.

    Raises
    ------
    ValueError
        A complex or non-2D space, another ODL geometry class, or a placement
        :func:`geometry_to_odl` would not give back (checked by comparing
        source and detector positions at every angle).
    """
    from odl.applications import tomo

    if not getattr(space, "is_real", False):
        raise ValueError(f"space: expected a real ODL space (recon's operators are real), got {space}")
    if len(space.shape) != 2:
        raise ValueError(f"space: expected a 2D ODL space, got shape {tuple(space.shape)}")
    flat = getattr(odl_geometry, "det_curvature_radius", None) is None
    divergent = next((divergent for (dimension, divergent), name in ODL_CLASSES.items()
                      if dimension == 2 and isinstance(odl_geometry, getattr(tomo, name)) and flat), None)
    if divergent is None:
        raise ValueError(f"odl_geometry: expected ODL's Parallel2dGeometry or FanBeamGeometry (flat detector), "
                         f"got {type(odl_geometry).__name__}")
    kind = next(kind for kind, facts in KINDS.items() if (facts.dimension, facts.divergent) == (2, divergent))
    radii = {"source_radius": float(odl_geometry.src_radius),
             "detector_radius": float(odl_geometry.det_radius)} if divergent else {}
    detector = odl_geometry.det_partition
    geometry = Geometry(kind=kind, image_shape=tuple(space.shape), image_min=tuple(space.min_pt),
                        image_max=tuple(space.max_pt), angles=tuple(np.ravel(odl_geometry.angles)),
                        detector_shape=tuple(detector.shape), detector_min=tuple(detector.min_pt),
                        detector_max=tuple(detector.max_pt), **radii)
    _, rebuilt = geometry_to_odl(geometry)
    angles = np.asarray(geometry.angles)
    placements = [("det_point_position", lambda g: g.det_point_position(angles, 0.0))]
    if divergent:
        placements.append(("src_position", lambda g: g.src_position(angles)))
    for name, position in placements:
        if not np.allclose(position(odl_geometry), position(rebuilt), rtol=1e-6, atol=1e-9):
            raise ValueError(f"odl_geometry: its {name} differs from recon's convention (translation, "
                             "detector shift or initial vectors other than ODL's defaults)")
    return geometry
