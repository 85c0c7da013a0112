"""Filtered back-projection for 2D parallel and flat-detector fan beams."""

from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Literal, get_args

import scipy.fft
import torch
import torch.nn.functional as F
from torch import Tensor

from recon.algorithms.common import check_parameter, check_sinogram
from recon.geometry import Geometry
from recon.operators import RayTransform
from recon.operators.backends.astra_cpu import default_num_threads

__all__ = ["FilterName", "angle_weights", "fbp", "fbp_filter"]

FilterName = Literal["ram-lak", "shepp-logan", "cosine", "hamming", "hann"]
FILTERS: tuple[str, ...] = get_args(FilterName)

#: Pixels per chunk of the fan-beam back-projection (bounds its memory).
_FAN_CHUNK_ELEMENTS = 2**24


def _window(name: str, frequency: Tensor, scaling: float) -> Tensor:
    """Apodisation of the ramp at normalised frequencies in [0, 1], zero above ``scaling``."""
    w = frequency / scaling
    if name == "ram-lak":
        window = torch.ones_like(w)
    elif name == "shepp-logan":
        window = torch.sinc(w / 2)
    elif name == "cosine":
        window = torch.cos(w * math.pi / 2)
    elif name == "hamming":
        window = 0.54 + 0.46 * torch.cos(w * math.pi)
    else:  # hann
        window = torch.cos(w * math.pi / 2) ** 2
    return torch.where(frequency <= scaling, window, torch.zeros_like(window))


def fbp_filter(
    num_detectors: int,
    spacing: float,
    *,
    filter: FilterName = "hann",
    frequency_scaling: float = 1.0,
    padding: bool = True,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Frequency response of the apodised ramp filter, for ``torch.fft.rfft``.

    The ramp is the DFT of the band-limited spatial ramp kernel (Ram-Lak;
    Kak & Slaney, eq. 3.61), ``h(0) = 1/(4 d^2)``, ``h(n) = -1/(pi n d)^2``
    for odd ``n``, as ASTRA does, rather than ``|f|`` sampled in frequency:
    that gets the zero-frequency response wrong (zero on the DFT grid, too
    large on ODL's half-shifted grid) and shifts the image by a constant.
    Windows are evaluated at ``k / (M / 2)``, the frequency relative to the
    detector's Nyquist frequency; ODL samples ``k + 1/2`` instead, which
    matters only for windows with a jump at a cut-off below 1 (Ram-Lak,
    Shepp-Logan, Hamming).

    Parameters
    ----------
    num_detectors : int
        ``D``, bins of one projection.
    spacing : float
        Bin width ``d`` in metres.
    filter : {"ram-lak", "shepp-logan", "cosine", "hamming", "hann"}
        Window multiplied onto the ramp.
    frequency_scaling : float
        Cut-off in (0, 1] as a fraction of the Nyquist frequency
        ``1 / (2 d)``; the window is stretched to end there.
    padding : bool
        Zero-pad projections to ``M >= 2 D - 1`` bins (the next length that
        FFTs fast), so the circular convolution equals the linear one.
    device : torch.device or str

    Returns
    -------
    Tensor, shape (M // 2 + 1,), float32
        Response for the ``M``-point real FFT (``M = D`` without padding);
        in 1/metre, approximately ``|f|`` times the window.
    """
    if filter not in FILTERS:
        raise ValueError(f"filter: expected one of {FILTERS}, got {filter!r}")
    check_parameter("frequency_scaling", frequency_scaling)
    size = _fft_size(num_detectors, padding)
    index = torch.arange(size, device=device)
    n = torch.where(index > size // 2, index - size, index)  # signed offsets of a circulant
    kernel = torch.zeros(size, dtype=torch.float64, device=device)
    odd = n.remainder(2) == 1
    kernel[odd] = -1 / (math.pi * n[odd].double() * spacing) ** 2
    kernel[0] = 1 / (4 * spacing**2)
    ramp = spacing * torch.fft.rfft(kernel).real
    # Frequencies relative to the detector's Nyquist frequency 1 / (2 d).
    frequency = torch.arange(ramp.numel(), dtype=torch.float64, device=device) / (size / 2)
    window = _window(filter, frequency, frequency_scaling)
    return (ramp * window).float()


def angle_weights(angles: Tensor) -> Tensor:
    """Quadrature weights of the angles, normalised to sum to ``pi``.

    Each angle gets the length of its cell (halfway to its neighbours, the
    outer cells mirrored), and the weights are scaled so they sum to ``pi``:
    a parallel scan of ``[0, pi)`` measures every line once, a full fan
    scan of ``[0, 2 pi)`` twice, and both reconstruct with total weight ``pi``.

    Parameters
    ----------
    angles : Tensor, shape (A,)
        Radians, any order.

    Returns
    -------
    Tensor, shape (A,), float64
    """
    if angles.numel() == 1:
        return torch.full_like(angles, math.pi, dtype=torch.float64)
    ordered, order = torch.sort(angles.double())
    gaps = ordered.diff()
    edges = torch.cat([gaps[:1], gaps, gaps[-1:]])
    cells = torch.empty_like(ordered)
    cells[order] = 0.5 * (edges[:-1] + edges[1:])
    return cells * (math.pi / cells.sum())


def _fft_size(num_detectors: int, padding: bool) -> int:
    """FFT length: ``D``, or with padding the first fast length ``>= 2 D - 1``.

    Any length from ``2 D - 1`` on makes the circular convolution linear on
    the ``D`` output bins; a length with small prime factors is faster.
    """
    return scipy.fft.next_fast_len(2 * num_detectors - 1, real=True) if padding else num_detectors


def _filter_rows(y: Tensor, response: Tensor, padding: bool) -> Tensor:
    """Convolve every projection (last axis) with the filter of ``response``."""
    size = _fft_size(y.shape[-1], padding)
    spectrum = torch.fft.rfft(y, n=size, dim=-1) * response
    return torch.fft.irfft(spectrum, n=size, dim=-1)[..., : y.shape[-1]]


def fbp(
    y: Tensor,
    A: RayTransform,
    *,
    filter: FilterName = "hann",
    frequency_scaling: float = 0.641,
    padding: bool = True,
) -> Tensor:
    """Filtered back-projection of a batch of 2D sinograms.

    Parameters
    ----------
    y : Tensor, shape (B, C, A, D), float32
        Sinograms: line integrals, in image units x metres (for LoDoPaB data,
        post-log values divided by ``mu_max``).
    A : RayTransform
        The operator of ``y``'s geometry: 2D parallel beam, or a flat-detector
        fan beam covering a full turn.
    filter, padding
        Window and zero-padding of the ramp filter, see :func:`fbp_filter`.
    frequency_scaling : float
        Cut-off in (0, 1] relative to the detector's Nyquist frequency.
        The defaults (Hann, 0.641) are DIVal's for LoDoPaB-CT.

    Returns
    -------
    Tensor, shape (B, C, nx, ny), float32
        On ``y``'s device, in the units of the image.

    Notes
    -----
    Parallel beam: projections are filtered with the apodised ramp
    (:func:`fbp_filter`) and back-projected with ``A.adjoint``, rescaled by
    ``detector spacing / pixel area`` and the angle weights of
    :func:`angle_weights`, so that ``fbp(A x) ~ x``. With the same filter and
    scaling it equals ODL's ``fbp_op`` up to ODL's constant offset.

    Fan beam (flat detector; Kak & Slaney, *Principles of Computerized
    Tomographic Imaging*, section 3.4.2): projections are moved to a virtual
    detector through the centre of rotation (``u' = u R / (R + r)``),
    multiplied by ``R / sqrt(R^2 + u'^2)`` (cosine pre-weighting), filtered,
    and back-projected pixel-driven in torch with the distance weight
    ``R^2 / L^2``, ``L`` the distance of the pixel from the source along the
    central ray; each ray is measured twice over the full turn, so the angle
    weights sum to ``pi``. A short scan would need Parker weights, which are
    not implemented: other fan-beam coverages raise ``ValueError``.

    Examples
    --------
    >>> import torch, recon
    >>> A = recon.RayTransform(recon.Geometry.parallel(image_size=64, num_angles=90, num_detectors=91))
    >>> x = fbp(A(torch.ones(1, 1, 64, 64)), A)
    >>> tuple(x.shape)
    (1, 1, 64, 64)
    """
    geometry = A.geometry
    if geometry.facts.fbp is None:
        raise ValueError(f"fbp: expected a 2D parallel or fan geometry, got {geometry.kind!r}")
    check_sinogram(y, A)
    angles = torch.tensor(geometry.angles, dtype=torch.float64)
    weights = angle_weights(angles)
    (spacing,) = geometry.detector_spacing
    if geometry.facts.fbp == "parallel":
        response = fbp_filter(geometry.num_detectors, spacing, filter=filter,
                              frequency_scaling=frequency_scaling, padding=padding, device=y.device)
        scale = weights * spacing / math.prod(geometry.pixel_size)
        q = _filter_rows(y, response, padding) * scale.to(y.device, torch.float32)[:, None]
        return _backproject_parallel(q, A)
    return _fan_fbp(y, A, weights, filter=filter, frequency_scaling=frequency_scaling,
                    padding=padding)


#: Angle blocks of the CPU parallel-beam back-projection (see ``_backproject_parallel``).
_ANGLE_BLOCKS = 8


@lru_cache(maxsize=8)
def _angle_parts(geometry: Geometry, projector: str) -> tuple[tuple[slice, RayTransform], ...]:
    """Single-threaded ray transforms, each for one contiguous block of the angles."""
    parts = min(_ANGLE_BLOCKS, geometry.num_angles)
    bounds = [round(k * geometry.num_angles / parts) for k in range(parts + 1)]
    return tuple(
        (block, RayTransform(geometry.with_angles(geometry.angles[block]), projector=projector,
                             num_threads=1))
        for block in (slice(lo, hi) for lo, hi in itertools.pairwise(bounds))
    )


@lru_cache(maxsize=1)
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="recon-fbp")


def _backproject_parallel(q: Tensor, A: RayTransform) -> Tensor:
    """``A.adjoint(q)``; on CPU split into angle blocks back-projected in parallel threads.

    ASTRA's CPU back-projection of one image runs on one core. The sum of the
    back-projections of a fixed number of angle blocks is the same transpose;
    run over a thread pool (ASTRA releases the GIL) it uses every core even
    for a single image, and each image's result does not depend on the batch
    size or the number of cores.
    """
    if q.device.type != "cpu" or A.resolved_cpu_backend() != "threads":
        return A.adjoint(q.contiguous())
    pool = _pool(default_num_threads())
    jobs = [pool.submit(part.adjoint, q[:, :, block].contiguous())
            for block, part in _angle_parts(A.geometry, A.projector)]
    image = jobs[0].result()
    for job in jobs[1:]:  # in a fixed order, element by element: reproducible bits
        image = image + job.result()
    return image


def _check_full_turn(angles: Tensor) -> None:
    ordered = torch.sort(angles).values
    if len(ordered) < 2:
        raise ValueError("fan-beam fbp needs angles covering a full turn, got one angle")
    coverage = float(ordered[-1] - ordered[0]) * len(ordered) / (len(ordered) - 1)
    if abs(coverage - 2 * math.pi) > 1e-3 * 2 * math.pi:
        raise ValueError(
            f"fan-beam fbp: expected angles covering a full turn (2 pi), got {coverage:.4f} rad; "
            "short scans need Parker weights, which recon does not implement"
        )


def _fan_fbp(y: Tensor, A: RayTransform, weights: Tensor, *, filter: FilterName,
             frequency_scaling: float, padding: bool) -> Tensor:
    geometry = A.geometry
    _check_full_turn(torch.tensor(geometry.angles, dtype=torch.float64))
    source, detector = geometry.source_radius, geometry.detector_radius
    magnification = (source + detector) / source
    (spacing,) = geometry.detector_spacing
    virtual_spacing = spacing / magnification
    num_detectors = geometry.num_detectors
    u = (geometry.detector_min[0] + (torch.arange(num_detectors, dtype=torch.float64) + 0.5)
         * spacing) / magnification
    cosine = (source / torch.sqrt(source**2 + u**2)).to(y.device, torch.float32)
    response = fbp_filter(num_detectors, virtual_spacing, filter=filter,
                          frequency_scaling=frequency_scaling, padding=padding, device=y.device)
    q = _filter_rows(y * cosine, response, padding)
    return _backproject_fan(q, geometry, weights, u[0], virtual_spacing)


def _backproject_fan(q: Tensor, geometry, weights: Tensor, first_bin: float,
                     bin_width: float) -> Tensor:
    """Pixel-driven, distance-weighted fan-beam back-projection of filtered data.

    ``q`` (B, C, A, D) lives on the virtual detector through the centre,
    bin ``j`` at ``first_bin + j * bin_width`` metres. Returns (B, C, nx, ny).
    """
    batch, channels, num_angles, num_bins = q.shape
    nx, ny = geometry.image_shape
    radius = geometry.source_radius
    device = q.device
    px, py = (
        (low + (torch.arange(n, dtype=torch.float64) + 0.5) * size).to(device, torch.float32)
        for low, size, n in zip(geometry.image_min, geometry.pixel_size, geometry.image_shape)
    )
    theta = torch.tensor(geometry.angles, dtype=torch.float64)
    sin, cos = (v.to(device, torch.float32)[:, None, None] for v in (torch.sin(theta), torch.cos(theta)))
    weights = (weights * radius**2).to(device, torch.float32)[:, None, None]
    rows = q.reshape(batch * channels, 1, num_angles, num_bins)
    image = torch.zeros(batch * channels, nx, ny, dtype=torch.float32, device=device)
    chunk = max(1, _FAN_CHUNK_ELEMENTS // (nx * ny * batch * channels))
    for start in range(0, num_angles, chunk):
        part = slice(start, start + chunk)
        inverse = 1 / (radius - px[:, None] * sin[part] + py * cos[part])  # 1 / L, (a, nx, ny)
        across = px[:, None] * cos[part] + py * sin[part]                 # x . a
        # grid_sample coordinates in [-1, 1]: detector position and angle row.
        u = (radius * across * inverse - first_bin) * (2 / (bin_width * (num_bins - 1))) - 1
        row = torch.arange(start, start + len(inverse), device=device, dtype=torch.float32)
        v = (2 * row / max(num_angles - 1, 1) - 1)[:, None, None].expand_as(u)
        grid = torch.stack([u, v], dim=-1).reshape(1, -1, nx * ny, 2)
        samples = F.grid_sample(rows, grid.expand(len(rows), -1, -1, -1), mode="bilinear",
                                padding_mode="zeros", align_corners=True)
        image += torch.einsum("nap,ap->np", samples[:, 0],
                              (weights[part] * inverse**2).reshape(len(inverse), -1)).reshape(-1, nx, ny)
    return image.reshape(batch, channels, nx, ny)
