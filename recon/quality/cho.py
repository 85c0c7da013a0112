"""Channelised Hotelling observer (CHO) with Laguerre-Gauss channels: detectability d' and AUC.

Signal-present and signal-absent ROIs come from independent noise
realisations, one or more ROIs per realisation (copies of the signal at
several places, background at several places: more samples from the same
reconstructions). Each ROI is reduced to ``J`` channel outputs ``v = U^T g``
(the channels centred on the ROI's own centre); the ROIs of the first half of
each class's realisations train the Hotelling template
``w = S^-1 (mean v_present - mean v_absent)`` (``S`` the mean of the two
classes' covariances), the other half is scored by it, so d' is not inflated
by testing on the training data:

    d' = (mean t_present - mean t_absent) / sqrt((var t_present + var t_absent) / 2),   AUC = Phi(d' / sqrt 2).

The confidence interval is a seeded bootstrap over the test ROIs (the template kept).

References
----------
B. D. Gallas, H. H. Barrett, "Validating the use of channels to estimate the
ideal linear observer", J. Opt. Soc. Am. A 20(9), 2003 (Laguerre-Gauss
channels). AAPM TG-233 (Samei et al., Med. Phys. 46(11), 2019), detectability.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from recon.geometry import Geometry
from recon.physics import MU_MAX, normalized_to_hu
from recon.quality.roi import crop_squares, pixel_coordinates, square_window

__all__ = ["Detectability", "cho_detectability", "laguerre_gauss_channels"]

#: Realisations each class needs per channel: half train the template, half test it, each at least 2 per channel.
REALISATIONS_PER_CHANNEL = 4


@dataclass(frozen=True)
class Detectability:
    """The CHO's detectability of one signal, per image channel (``C``; not the observer's channels).

    Attributes
    ----------
    d_prime : Tensor, shape (C,), float64
        Detectability index on the test realisations.
    auc : Tensor, shape (C,), float64
        ``Phi(d' / sqrt 2)``, the area under the ROC curve of a Gaussian observer.
    d_prime_interval, auc_interval : Tensor, shape (C, 2), float64
        Lower and upper bounds of the bootstrap confidence interval.
    train, test : (int, int)
        ROIs (present, absent) that trained the template (those of the first
        half of each class's realisations) and that were scored (the rest).
    """

    d_prime: Tensor
    auc: Tensor
    d_prime_interval: Tensor
    auc_interval: Tensor
    train: tuple[int, int]
    test: tuple[int, int]


def laguerre_gauss_channels(x: Tensor, y: Tensor, width: float, count: int) -> Tensor:
    """Laguerre-Gauss channels ``u_j(r) = sqrt(2) / a exp(-pi r^2 / a^2) L_j(2 pi r^2 / a^2)`` at points.

    Parameters
    ----------
    x, y : Tensor, broadcasting to shape (nx, ny)
        Positions relative to the channels' centre, mm.
    width : float
        ``a``, mm.
    count : int
        ``J``, the channels ``j = 0 .. J - 1``.

    Returns
    -------
    Tensor, shape (J, nx, ny), float64
        Orthonormal in the continuum (``integral u_j u_k dA = delta_jk``, in 1/mm).
    """
    if not width > 0 or not (isinstance(count, int) and count > 0):
        raise ValueError(f"expected a positive channel width and count, got {width!r} and {count!r}")
    q = 2 * math.pi * (x**2 + y**2).double() / width**2
    polynomials = [torch.ones_like(q), 1 - q]
    for k in range(1, count - 1):
        polynomials.append(((2 * k + 1 - q) * polynomials[k] - k * polynomials[k - 1]) / (k + 1))
    return math.sqrt(2) / width * torch.exp(-q / 2) * torch.stack(polynomials[:count])


def _d_prime(present: Tensor, absent: Tensor) -> Tensor:
    """d' of test statistics ``(..., N1)`` and ``(..., N0)``."""
    spread = torch.sqrt((present.var(dim=-1) + absent.var(dim=-1)) / 2)
    return (present.mean(dim=-1) - absent.mean(dim=-1)) / spread


def _auc(d_prime: Tensor) -> Tensor:
    return torch.special.ndtr(d_prime / math.sqrt(2))


def cho_detectability(present: Tensor, absent: Tensor, geometry: Geometry,
                      centres: tuple[float, float] | Sequence[tuple[float, float]], *, width: float, size: int = 32,
                      absent_centres: Sequence[tuple[float, float]] | None = None, channels: int = 10,
                      bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0, mu_max: float = MU_MAX
                      ) -> Detectability:
    """The CHO's d' and AUC of a signal, trained and tested on separate realisations.

    Parameters
    ----------
    present, absent : Tensor, shape (N1, C, nx, ny) and (N0, C, nx, ny)
        Independent realisations with and without the signal (normalised
        attenuation on ``geometry``'s grid); each image channel ``C`` (one method, say) is its own set.
    geometry : Geometry
        The images' 2D grid.
    centres : (float, float) or sequence of (float, float)
        Centre of the signal in ``present``, mm, or the centres of its
        copies: one ROI per centre and realisation, the channels centred on it.
    width : float
        Width ``a`` of the Laguerre-Gauss channels, mm (about the signal's diameter or more).
    size : int
        Side of the square ROIs, pixels.
    absent_centres : sequence of (float, float), optional
        Centres of the ROIs in ``absent``, mm (default ``centres``). Only
        where the mean background is the same as at ``centres``: the
        template learns any difference of the two classes' means, a
        background that varies from place to place included.
    channels : int
        ``J``, the number of channels.
    bootstrap : int
        Bootstrap resamplings of the test ROIs for the interval.
    confidence : float
        Level of the percentile interval, in (0, 1).
    seed : int
        Seeds the bootstrap (the same seed gives the same interval).
    mu_max : float
        Attenuation of normalised value 1, 1/m.

    Returns
    -------
    Detectability

    Raises
    ------
    ValueError
        Fewer than ``4 J`` ROIs in a class (realisations times centres,
        :data:`REALISATIONS_PER_CHANNEL`) or fewer than 2 realisations,
        mismatched channels, an ROI leaving the field, or a bad ``bootstrap`` / ``confidence``.
    """
    centres = _centres(centres, "centres")
    absent_centres = centres if absent_centres is None else _centres(absent_centres, "absent_centres")
    needed = REALISATIONS_PER_CHANNEL * channels
    for name, images, rois in (("present", present, centres), ("absent", absent, absent_centres)):
        if (not isinstance(images, Tensor) or images.dim() != 4 or len(images) < 2
                or len(images) * len(rois) < needed):
            raise ValueError(f"{name}: expected at least {needed} realisations (N, C, nx, ny) times ROIs "
                             f"({len(rois)} each) for {channels} channels (half train the template, half test "
                             f"it), got {tuple(getattr(images, 'shape', ())) or type(images).__name__}")
    if present.shape[1:] != absent.shape[1:]:
        raise ValueError(f"present and absent: expected the same (C, nx, ny), got {tuple(present.shape[1:])} and "
                         f"{tuple(absent.shape[1:])}")
    if not (isinstance(bootstrap, int) and bootstrap > 0) or not 0 < confidence < 1:
        raise ValueError(f"expected bootstrap > 0 resamplings and a confidence in (0, 1), got {bootstrap!r} and "
                         f"{confidence!r}")
    outputs = [_channel_outputs(images, geometry, rois, size, width, channels, mu_max)
               for images, rois in ((present, centres), (absent, absent_centres))]
    # realisation-major: the ROIs of the first half of the realisations train, the others test
    (train1, test1), (train0, test0) = ((v[:, :len(images) // 2 * len(rois)], v[:, len(images) // 2 * len(rois):])
                                        for v, images, rois in zip(outputs, (present, absent),
                                                                   (centres, absent_centres)))
    scatter = (_covariance(train1) + _covariance(train0)) / 2
    template = torch.linalg.solve(scatter, (train1.mean(dim=1) - train0.mean(dim=1))[..., None])[..., 0]
    scores1, scores0 = ((test @ template[..., None])[..., 0] for test in (test1, test0))
    d_prime = _d_prime(scores1, scores0)
    generator = torch.Generator().manual_seed(seed)
    draws1 = torch.randint(scores1.shape[-1], (bootstrap, scores1.shape[-1]), generator=generator)
    draws0 = torch.randint(scores0.shape[-1], (bootstrap, scores0.shape[-1]), generator=generator)
    resampled = _d_prime(scores1[:, draws1], scores0[:, draws0])  # (C, bootstrap)
    tail = (1 - confidence) / 2
    levels = torch.tensor([tail, 1 - tail], dtype=torch.float64)
    interval = torch.quantile(resampled, levels, dim=-1).T
    return Detectability(d_prime=d_prime, auc=_auc(d_prime), d_prime_interval=interval, auc_interval=_auc(interval),
                         train=(train1.shape[1], train0.shape[1]), test=(test1.shape[1], test0.shape[1]))


def _centres(value, name: str) -> tuple[tuple[float, float], ...]:
    """One centre ``(x, y)`` or several, as a tuple of float pairs; ``ValueError`` for anything else."""
    try:
        if len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
            return ((float(value[0]), float(value[1])),)
        pairs = tuple((float(x), float(y)) for x, y in value)
    except (TypeError, ValueError):
        pairs = ()
    if not pairs:
        raise ValueError(f"{name}: expected a centre (x, y) in mm or a sequence of them, got {value!r}")
    return pairs


def _channel_outputs(images: Tensor, geometry: Geometry, centres: tuple[tuple[float, float], ...], size: int,
                     width: float, channels: int, mu_max: float) -> Tensor:
    """Channel outputs ``(C, N * K, J)`` of the ROIs around ``K`` centres of each of ``N`` images, realisation-major."""
    x, y = pixel_coordinates(geometry)
    rois = crop_squares(normalized_to_hu(images.double(), mu_max=mu_max), geometry, centres, size)  # (N, C, K, s, s)
    bases = []
    for centre in centres:
        rows, columns = square_window(geometry, centre, size)
        bases.append(laguerre_gauss_channels(x[rows] - centre[0], y[:, columns] - centre[1], width, channels))
    outputs = torch.einsum("nckuv,kjuv->cnkj", rois, torch.stack(bases))
    return outputs.flatten(1, 2)


def _covariance(outputs: Tensor) -> Tensor:
    """Sample covariance ``(C, J, J)`` of channel outputs ``(C, N, J)``."""
    centred = outputs - outputs.mean(dim=1, keepdim=True)
    return centred.transpose(1, 2) @ centred / (outputs.shape[1] - 1)
