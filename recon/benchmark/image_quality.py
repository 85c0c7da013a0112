"""Task-based image quality of reconstruction methods on the QA phantoms: noise, resolution, CT numbers, detectability.

:func:`measure_image_quality` simulates seeded low-dose noise realisations of
the QA phantoms of :mod:`recon.data.qa` at each dose, reconstructs them with
every method (batched) and measures, per method and dose:

* noise (HU), NPS peak and mean frequency (lp/cm): the water cylinder's realisations;
* TTF50 and TTF10 (lp/cm) of the resolution module's high- and low-contrast
  discs: the TTF of the mean of the realisations, the mean reconstruction of
  the water cylinder subtracted as background, with a 95 % bootstrap interval
  (both means resampled over their realisations);
* CT-number error per insert (HU): the CT-number module, mean of the realisations;
* uniformity (HU): the mean of the water cylinder's realisations;
* CHO d' (with its bootstrap interval) and AUC per low-contrast rod: the
  ROIs of its :data:`ROD_COPIES` copies in the low-contrast module's
  realisations signal-present, the water cylinder's ROIs at the same places
  signal-absent (train/test split by realisation,
  :func:`recon.quality.cho_detectability`).

Each phantom and dose draws its own noise seed from ``seed``: the same seed
gives the same numbers. A method that raises, or returns images of the wrong
shape or with NaN/inf, is a failure of one line naming it; the other methods'
results are kept. Given a ``parts`` folder, each finished method and dose is
saved there at once (one JSON file, written atomically) and read back by a
later run with the same settings instead of being recomputed: an interrupted
run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from recon.benchmark.files import file_slug, read_part, write_json
from recon.benchmark.methods import CpuBackend, build_methods
from recon.checks import check_finite
from recon.data.qa import ct_number_module, low_contrast_module, noise_realisations, resolution_module, water_cylinder
from recon.geometry import Geometry
from recon.operators import RayTransform
from recon.quality import cho_detectability, ct_numbers, noise_power_spectrum, task_transfer_function, uniformity
from recon.quality.cho import REALISATIONS_PER_CHANNEL
from recon.quality.roi import pixel_size_mm

__all__ = ["DEFAULT_CHANNELS", "DEFAULT_REALISATIONS", "measure_image_quality", "nps_roi"]

#: Noise realisations per phantom and dose by default.
DEFAULT_REALISATIONS = 32
#: Laguerre-Gauss channels of the CHO by default: it needs 4 realisations per channel (``4 * 5 = 20 <= 32``).
DEFAULT_CHANNELS = 5
#: Side of the NPS ROIs, mm (about; rounded to an even number of pixels), and their centres in the water cylinder.
NPS_ROI_MM = 64.0
NPS_CENTRES = ((0.0, 0.0), (0.0, 40.0), (40.0, 0.0), (0.0, -40.0), (-40.0, 0.0))
#: Copies of each low-contrast rod in the module (opposite each other on its ring): more signal-present ROIs per image.
ROD_COPIES = 2
_PHANTOMS = ("water", "ct", "resolution", "low_contrast")


def nps_roi(geometry: Geometry) -> int:
    """Side of the NPS ROIs in pixels: about :data:`NPS_ROI_MM`, even, at least 8 (32 at the small preset)."""
    return max(8, 2 * round(NPS_ROI_MM / 2 / pixel_size_mm(geometry)))


def _noise_seed(seed: int, phantom: int, photons: float) -> int:
    """The noise seed of one phantom at one dose: independent phantoms (the CHO's classes must be)."""
    return int(np.random.SeedSequence([seed, 1 + phantom, round(photons * 1000)]).generate_state(1)[0])


def _part_path(parts: Path, photons: float, method: str) -> Path:
    """The file of one finished method at one dose inside a ``parts`` folder."""
    return parts / file_slug(f"{photons:g} photons") / f"{file_slug(method)}.json"


def _truths_digest(truths: dict[str, np.ndarray]) -> str:
    """Identifies the phantoms' noise-free images in resume keys (a changed phantom is recomputed)."""
    digest = hashlib.sha256()
    for name, image in truths.items():
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(image, dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


def _reconstruct(reconstruct: Callable[[Tensor], Tensor], sinograms: Tensor, shape: tuple[int, ...],
                 batch_size: int) -> Tensor:
    """All reconstructions of ``sinograms``, ``batch_size`` at a time, checked: shape, finite values."""
    parts = []
    for first in range(0, len(sinograms), batch_size):
        batch = sinograms[first:first + batch_size]
        images = reconstruct(batch)
        expected = (len(batch), *shape)
        if not isinstance(images, Tensor) or tuple(images.shape) != expected:
            raise ValueError(f"expected reconstructions of shape {expected}, got "
                             f"{tuple(getattr(images, 'shape', ())) or type(images).__name__}")
        check_finite(images, "reconstructions")
        parts.append(images.detach().double().cpu())
    return torch.cat(parts)


def _resampled_means(images: Tensor, count: int, *, seed: int) -> Tensor:
    """``count`` bootstrap means ``(count, 1, nx, ny)`` of realisations ``(N, 1, nx, ny)``, seeded (weights, not copies)."""
    generator = torch.Generator().manual_seed(seed)
    draws = torch.randint(len(images), (count, len(images)), generator=generator)
    weights = torch.zeros(count, len(images), dtype=images.dtype).scatter_add_(
        1, draws, torch.ones_like(draws, dtype=images.dtype)) / len(images)
    return torch.einsum("bn,ncxy->bcxy", weights, images)


def _interval(values: Tensor, confidence: float = 0.95) -> list[float]:
    """The percentile interval of bootstrap values, over the resamples that have one (a TTF may never fall to
    0.5 in range); NaN if more than a tail's share of them have none."""
    tail = (1 - confidence) / 2
    if torch.isnan(values).sum() > tail * len(values):
        return [math.nan, math.nan]
    levels = torch.tensor([tail, 1 - tail], dtype=values.dtype)
    return [float(v) for v in torch.nanquantile(values, levels)]


def _curve(values: Tensor) -> list[float]:
    return [float(v) for v in values]


def _measure(images: dict[str, Tensor], geometry: Geometry, phantoms: dict[str, Any], *, channels: int,
             bootstrap: int, seed: int) -> dict[str, Any]:
    """The numbers of one method at one dose from its reconstructions of each phantom, ``(N, 1, nx, ny)``."""
    water, water_mean = images["water"], images["water"].mean(dim=0, keepdim=True)
    nps = noise_power_spectrum(water, geometry, size=nps_roi(geometry), centres=NPS_CENTRES)
    resolution_mean = images["resolution"].mean(dim=0, keepdim=True)
    resampled = [_resampled_means(images[name], bootstrap, seed=seed + index)
                 for index, name in enumerate(("resolution", "water"))]
    ttf = {}
    for insert, task in zip(phantoms["resolution"].inserts[:2], ("high", "low")):
        result = task_transfer_function(resolution_mean, geometry, insert, background=water_mean)
        spread = task_transfer_function(resampled[0], geometry, insert, background=resampled[1])
        ttf[task] = {"insert": insert.name, "contrast_hu": insert.hu, "f50": float(result.f50[0, 0]),
                     "f50_interval": _interval(spread.f50[:, 0]), "f10": float(result.f10[0, 0]),
                     "f10_interval": _interval(spread.f10[:, 0]), "frequency": _curve(result.frequency),
                     "ttf": _curve(result.ttf[0, 0])}
    numbers = ct_numbers(images["ct"].mean(dim=0, keepdim=True), geometry, phantoms["ct"].inserts)
    ct = {insert.name: {"nominal_hu": insert.hu, "mean_hu": float(mean), "error_hu": float(error)}
          for insert, mean, error in zip(numbers.inserts, numbers.mean[0, 0], numbers.error[0, 0])}
    _, deviation = uniformity(water_mean, geometry, phantoms["water"].body)
    pixel = pixel_size_mm(geometry)
    detectability = {}
    rods = phantoms["low_contrast"].inserts
    for rod in {rod.name: rod for rod in rods}.values():
        width = max(2 * rod.radius, 2 * pixel)
        size = max(8, 2 * math.ceil(1.5 * width / pixel))
        # signal-absent ROIs at the copies' own places: the reconstructed cylinder's background is not the same
        # everywhere (a few HU of aliasing at 2 mm pixels), and a template would learn any difference
        copies = [(copy.x, copy.y) for copy in rods if copy.name == rod.name]
        result = cho_detectability(images["low_contrast"], water, geometry, copies, width=width, size=size,
                                   channels=channels, bootstrap=bootstrap, seed=seed)
        detectability[rod.name] = {"diameter_mm": 2 * rod.radius, "contrast_hu": rod.hu,
                                   "d_prime": float(result.d_prime[0]),
                                   "d_prime_interval": _curve(result.d_prime_interval[0]),
                                   "auc": float(result.auc[0]), "train": list(result.train),
                                   "test": list(result.test)}
    return {
        "noise_hu": float(nps.noise[0]),
        "nps_peak_lp_cm": float(nps.peak_frequency[0]),
        "nps_mean_lp_cm": float(nps.mean_frequency[0]),
        "nps": {"frequency": _curve(nps.radial_frequency), "radial": _curve(nps.radial[0])},
        "ttf": ttf,
        "ct_numbers": ct,
        "max_abs_ct_error_hu": max(abs(row["error_hu"]) for row in ct.values()),
        "uniformity_hu": float(deviation[0, 0]),
        "detectability": detectability,
    }


def _check(photons: Sequence[float], realisations: int, channels: int, batch_size: int, bootstrap: int) -> None:
    if not photons or any(isinstance(p, bool) or not isinstance(p, (int, float)) or not p > 0 or not math.isfinite(p)
                          for p in photons):
        raise ValueError(f"photons: expected one or more positive photon counts, got {list(photons)!r}")
    for name, value in (("channels", channels), ("batch_size", batch_size), ("bootstrap", bootstrap),
                        ("realisations", realisations)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")
    needed = REALISATIONS_PER_CHANNEL * channels
    if realisations < needed:
        raise ValueError(f"realisations: the CHO with {channels} channels needs at least {needed} realisations per "
                         f"class (half train its template, half test it), got {realisations}; raise the "
                         "realisations or lower the channels")


def measure_image_quality(geometry: Geometry, methods: Sequence[str], photons: Sequence[float], *,
                          realisations: int = DEFAULT_REALISATIONS, seed: int = 0,
                          channels: int = DEFAULT_CHANNELS, bootstrap: int = 200, batch_size: int = 8,
                          cpu_backend: CpuBackend = "threads", progress: Callable[[str], None] | None = None,
                          parts: str | os.PathLike | None = None, resume: bool = True) -> dict[str, Any]:
    """Noise, NPS, TTF, CT numbers, uniformity and CHO d' of each method at each dose, on the QA phantoms.

    Parameters
    ----------
    geometry : Geometry
        A 2D geometry whose field holds the 20 cm water cylinder (every preset on LoDoPaB's field does).
    methods : sequence of str
        Method specs, anything :func:`recon.benchmark.methods.build_method` accepts.
    photons : sequence of float
        Doses, ``N0`` photons per bin of the unattenuated beam.
    realisations : int
        Noise realisations per phantom and dose (each reconstructed by every method).
    seed : int
        Seeds the noise of every phantom and dose and the CHO's bootstrap: the same seed, the same numbers.
    channels : int
        Laguerre-Gauss channels of the CHO; it needs ``4 * channels`` realisations.
    bootstrap : int
        Bootstrap resamplings of the d' and TTF50 / TTF10 intervals (95 %).
    batch_size : int
        Sinograms per call of a method.
    cpu_backend : {"threads", "sparse"}
    progress : callable, optional
        Called with a short line before each method and dose.
    parts : path-like, optional
        Folder for the finished results of each method and dose (created as
        needed): each is written as soon as it is measured, and with
        ``resume`` read back instead of recomputed when its method (the
        spec, and for checkpoints the file), dose, phantoms and settings are
        the same. Failures are not stored: they run again.
    resume : bool
        Reuse the finished results found in ``parts``.

    Returns
    -------
    dict
        JSON values: ``settings`` (geometry, realisations, seed, channels,
        NPS ROI), ``doses`` (one per photon count, in order: ``photons``,
        ``methods`` (spec -> the numbers, see the module) and ``failures``
        (spec -> one-line message)).

    Raises
    ------
    ValueError
        An unknown method spec, a photon count that is not positive, too few
        realisations for the CHO (``realisations < 4 * channels``), or a
        geometry whose field does not hold the phantoms.
    """
    photons = [float(p) if isinstance(p, (int, float)) and not isinstance(p, bool) else p for p in photons]
    _check(photons, realisations, channels, batch_size, bootstrap)
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods: expected distinct specs, got {list(methods)!r}")
    built = build_methods(list(methods), geometry, cpu_backend=cpu_backend)
    operator = RayTransform(geometry, cpu_backend=cpu_backend)
    phantoms = {"water": water_cylinder(), "ct": ct_number_module(), "resolution": resolution_module(),
                "low_contrast": low_contrast_module(copies=ROD_COPIES)}
    truths = {name: phantom.image(geometry) for name, phantom in phantoms.items()}
    shape = (1, *geometry.image_shape)
    settings = {"geometry": geometry.describe(), "image_shape": list(geometry.image_shape),
                "pixel_mm": pixel_size_mm(geometry), "methods": list(methods), "photons": photons,
                "realisations": realisations, "seed": seed, "channels": channels, "bootstrap": bootstrap,
                "nps_roi_pixels": nps_roi(geometry)}
    common = {name: settings[name] for name in ("geometry", "image_shape", "realisations", "seed", "channels",
                                                "bootstrap", "nps_roi_pixels")}
    common["phantoms"] = _truths_digest(truths)
    doses = []
    for dose in photons:
        sinograms = None  # simulated when a method needs them: a resumed dose simulates nothing
        results, failures = {}, {}
        for method in built:
            key = {**common, "photons": dose, "method": method.key}
            path = None if parts is None else _part_path(Path(parts), dose, method.name)
            stored = (read_part(path, key) or {}).get("result") if path is not None and resume else None
            if stored is not None:
                if progress is not None:
                    progress(f"{method.name} at {dose:g} photons: finished before, reused")
                results[method.name] = stored
                continue
            if progress is not None:
                progress(f"{method.name} at {dose:g} photons")
            if sinograms is None:
                sinograms = {name: noise_realisations(truths[name], operator, dose, realisations,
                                                      seed=_noise_seed(seed, _PHANTOMS.index(name), dose))
                             for name in phantoms}
            try:
                images = {name: _reconstruct(method.reconstruct, values, shape, batch_size)
                          for name, values in sinograms.items()}
            except Exception as error:  # a method's own failure (a user's custom method above all), named
                message = " ".join(str(error).split()) or "no message"
                failures[method.name] = (f"{method.name}: failed at {dose:g} photons: {type(error).__name__}: "
                                         f"{message}; the other methods' results are kept")
                continue
            results[method.name] = _measure(images, geometry, phantoms, channels=channels, bootstrap=bootstrap,
                                            seed=seed)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_json(path, {"key": key, "result": results[method.name]})
        doses.append({"photons": dose, "methods": results, "failures": failures})
    return {"settings": settings, "doses": doses}
