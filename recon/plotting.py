"""Figures with anatomy upright: x-first arrays shown with y pointing up; CT windows in HU."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recon.files import atomic_path
from recon.physics import MU_MAX, normalized_to_hu

__all__ = ["CT_WINDOWS", "Window", "ct_window", "show_ct", "show_image", "show_sinogram", "save_figure"]


@dataclass(frozen=True)
class Window:
    """A CT display window: grey from ``level - width/2`` (black) to ``level + width/2`` (white).

    Parameters
    ----------
    width : float
        Window width W, HU (positive).
    level : float
        Window level (centre) L, HU.
    name : str
        What it shows (``"soft tissue"``), for labels.
    """

    width: float
    level: float
    name: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.width) and self.width > 0 and math.isfinite(self.level)):
            raise ValueError(f"window: expected a positive, finite width and a finite level in HU, "
                             f"got W{self.width:g}/L{self.level:g}")

    @property
    def limits(self) -> tuple[float, float]:
        """``(low, high)`` in HU, the ``vmin`` and ``vmax`` of the display."""
        return self.level - self.width / 2, self.level + self.width / 2

    @property
    def label(self) -> str:
        """``"soft tissue W400/L40"``."""
        return f"{self.name} W{self.width:g}/L{self.level:g}".strip()

    def grey(self, hu) -> np.ndarray:
        """Grey levels of CT numbers through the window, as a display shows them.

        Parameters
        ----------
        hu : array_like, any shape
            CT numbers, HU.

        Returns
        -------
        numpy.ndarray, same shape, float64
            0 (black) at or below ``level - width/2``, 1 (white) at or above
            ``level + width/2``, linear in between.

        Examples
        --------
        >>> CT_WINDOWS["soft"].grey([-1000.0, 40.0, 3000.0]).tolist()
        [0.0, 0.5, 1.0]
        """
        low, _ = self.limits
        return np.clip((np.asarray(hu, dtype=np.float64) - low) / self.width, 0, 1)


#: The usual named windows (W/L in HU): soft tissue 400/40 (``"soft"`` or ``"soft-tissue"``),
#: lung 1500/-600, bone 1800/400, brain 80/40.
CT_WINDOWS = {
    "soft": Window(400.0, 40.0, "soft tissue"),
    "soft-tissue": Window(400.0, 40.0, "soft tissue"),
    "lung": Window(1500.0, -600.0, "lung"),
    "bone": Window(1800.0, 400.0, "bone"),
    "brain": Window(80.0, 40.0, "brain"),
}


def ct_window(spec: str | Window) -> Window:
    """The window a name or ``"W,L"`` describes.

    Parameters
    ----------
    spec : str or Window
        A key of :data:`CT_WINDOWS` (``"soft"`` or ``"soft-tissue"``, ``"lung"``,
        ``"bone"``, ``"brain"``), a width and level in HU as ``"W,L"``
        (``"350,50"``), or a Window.

    Returns
    -------
    Window

    Raises
    ------
    ValueError
        Neither a known name nor two numbers with a positive width.

    Examples
    --------
    >>> ct_window("soft").limits
    (-160.0, 240.0)
    >>> ct_window("2000,500").label
    'W2000/L500'
    >>> ct_window("brain").label
    'brain W80/L40'
    """
    if isinstance(spec, Window):
        return spec
    text = str(spec).strip().lower()
    if text in CT_WINDOWS:
        return CT_WINDOWS[text]
    parts = text.split(",")
    try:
        width, level = (float(part) for part in parts)
    except ValueError:
        raise ValueError(f"window: expected one of {', '.join(CT_WINDOWS)} or width,level in HU "
                         f"(e.g. 400,40), got {spec!r}") from None
    return Window(width, level)


def show_ct(ax, image, *, window: str | Window = "soft", mu_max: float = MU_MAX, title: str | None = None):
    """Draw an x-first image on LoDoPaB's normalised scale upright, in HU through a CT window.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    image : array_like or Tensor, shape (nx, ny)
        Normalised attenuation ``mu / mu_max``.
    window : str or Window
        As :func:`ct_window` takes it; default soft tissue (W400/L40).
    mu_max : float
        Attenuation of the value 1, 1/m (:func:`recon.physics.normalized_to_hu`).
    title : str, optional

    Returns
    -------
    matplotlib.image.AxesImage
        For a colour bar, which is then in HU.
    """
    low, high = ct_window(window).limits
    return show_image(ax, normalized_to_hu(_as_array(image), mu_max=mu_max), title=title, vmin=low, vmax=high)


def _as_array(values) -> np.ndarray:
    """A numpy array of an array or a (CPU or CUDA, autograd-tracked or not) tensor."""
    return np.asarray(values.detach().cpu() if hasattr(values, "detach") else values)


def show_image(ax, image, *, title: str | None = None, cmap: str = "gray", **kwargs):
    """Draw an x-first image ``(nx, ny)`` upright (x to the right, y up).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    image : array_like or Tensor, shape (nx, ny)
    title : str, optional
    kwargs
        Passed to ``imshow`` (``vmin``, ``vmax`` ...).
    """
    artist = ax.imshow(_as_array(image).T, origin="lower", cmap=cmap, **kwargs)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return artist


def show_sinogram(ax, sinogram, *, title: str | None = None, cmap: str = "gray", **kwargs):
    """Draw a sinogram ``(num_angles, num_detectors)``: detector across, angle down."""
    artist = ax.imshow(_as_array(sinogram), cmap=cmap, aspect="auto", **kwargs)
    ax.set_xlabel("detector bin")
    ax.set_ylabel("angle index")
    if title:
        ax.set_title(title)
    return artist


def save_figure(figure, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Save ``figure`` to ``path`` atomically (temporary file, then rename); creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=True) as temporary:
        figure.savefig(temporary, dpi=dpi, format=path.suffix.lstrip(".") or "png", bbox_inches="tight")
    return path
