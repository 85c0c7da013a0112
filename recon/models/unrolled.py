"""Unrolled iterative networks: Learned Gradient Descent and Learned Primal-Dual.

Both run a fixed number of iterations whose updates are small CNNs with their
own weights per iteration, on the operator scaled by its norm,
``A / ||A||``, so that the data enter the networks on a scale of order one
whatever the geometry's units.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from recon.geometry import Geometry
from recon.models.base import Initialization, LearnedReconstructor
from recon.models.blocks import channels_last, conv_block
from recon.models.registry import register_model

__all__ = ["LearnedGradientDescent", "LearnedPrimalDual"]


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def _check_initialization(initialization: str) -> None:
    if initialization not in ("fbp", "zero"):
        raise ValueError(f"initialization: expected 'fbp' or 'zero', got {initialization!r}")


@register_model("lgd")
class LearnedGradientDescent(LearnedReconstructor):
    """Learned gradient descent with memory (Adler & Oktem 2017).

    With ``Â = A / ||A||`` and ``ŷ = y / ||A||``, iteration ``k`` computes
    the data-term gradient ``g = Â^T (Â x - ŷ)`` and a CNN ``Γ_k`` maps
    ``[x, g, s]`` (image, gradient, ``memory`` channels) to an update:
    ``[dx, s] = Γ_k([x, g, s])``, ``x <- x + dx``.

    Parameters
    ----------
    geometry : Geometry or dict
    iterations : int
        Unrolled iterations, each with its own CNN (default 10).
    memory : int
        Memory channels carried between iterations (default 5).
    hidden_channels : int
        Width of the CNNs (default 32).
    layers : int
        Convolutions per CNN (default 3).
    initialization : {"fbp", "zero"}
        Starting image.
    zero_init_updates : bool
        Start every update CNN's last convolution at zero, so that the
        untrained network returns its starting image (the FBP) and training
        refines it instead of first undoing random updates.
    **options
        ``fbp_filter``, ``frequency_scaling``, ``cpu_backend``, ``cuda_backend`` of
        :class:`~recon.models.base.LearnedReconstructor`.

    References
    ----------
    J. Adler, O. Oktem, "Solving ill-posed inverse problems using iterative
    deep neural networks", Inverse Problems 33(12), 2017.
    """

    def __init__(self, geometry: Geometry | dict[str, Any], *, iterations: int = 10, memory: int = 5,
                 hidden_channels: int = 32, layers: int = 3, initialization: Initialization = "fbp",
                 zero_init_updates: bool = True, **options: Any) -> None:
        super().__init__(geometry, **options)
        _check_counts(iterations=iterations, memory=memory, hidden_channels=hidden_channels, layers=layers)
        _check_initialization(initialization)
        self.initialization = initialization
        self.memory = memory
        self.updates = nn.ModuleList(
            conv_block(2 + memory, 1 + memory, hidden_channels=hidden_channels, layers=layers,
                       zero_last=zero_init_updates)
            for _ in range(iterations)
        )

    def forward(self, y: Tensor) -> Tensor:
        """Sinograms ``(B, 1, A, D)`` -> images ``(B, 1, nx, ny)``."""
        x = self.initial_image(self.check_sinogram(y), self.initialization)
        data = y / self.scale()
        memory = x.new_zeros((x.shape[0], self.memory, *x.shape[2:]))
        for update in self.updates:
            gradient = self.backproject(self.project(x) - data)
            step = update(channels_last(torch.cat([x, gradient, memory], dim=1)))
            x = x + step[:, :1]
            memory = step[:, 1:]
        return x.contiguous()


@register_model("lpd")
class LearnedPrimalDual(LearnedReconstructor):
    """Learned Primal-Dual (Adler & Oktem 2018).

    With ``Â = A / ||A||`` and ``ŷ = y / ||A||``, primal ``f`` (image,
    ``primal_channels``) and dual ``h`` (sinogram, ``dual_channels``)
    memories are updated in turn by CNNs with their own weights per iteration:
    ``h <- h + Γ_k([h, Â f_1, ŷ])``, ``f <- f + Λ_k([f, Â^T h_0])``; the
    output is ``f_0``. ``f`` starts with every channel the FBP (or zero),
    ``h`` with zeros.

    Parameters
    ----------
    geometry : Geometry or dict
    iterations : int
        Unrolled iterations (paper: 10).
    primal_channels, dual_channels : int
        Memory channels (paper: 5 and 5).
    hidden_channels : int
        Width of the CNNs (paper: 32).
    dual_hidden_channels : int, optional
        Width of the dual (sinogram-domain) CNNs when it differs from
        ``hidden_channels``. The dual CNNs run on the ``A x D`` sinogram,
        several times more pixels than the image, so they dominate the cost
        of a step; a narrower dual width buys a wider primal one.
    layers : int
        Convolutions per CNN (paper: 3).
    initialization : {"fbp", "zero"}
        Starting image (the paper: zero; DIVal's LoDoPaB model: FBP).
    zero_init_updates : bool
        Start every update CNN's last convolution at zero, so that the
        untrained network returns its starting image (the FBP) and training
        refines it instead of first undoing random updates.
    **options
        ``fbp_filter``, ``frequency_scaling``, ``cpu_backend``, ``cuda_backend`` of
        :class:`~recon.models.base.LearnedReconstructor`.

    References
    ----------
    J. Adler, O. Oktem, "Learned primal-dual reconstruction", IEEE TMI 37(6), 2018.

    Examples
    --------
    >>> import torch, recon
    >>> g = recon.Geometry.parallel(image_size=16, num_angles=8, num_detectors=23)
    >>> model = LearnedPrimalDual(g, iterations=2)
    >>> tuple(model(torch.zeros(3, 1, 8, 23)).shape)
    (3, 1, 16, 16)
    """

    def __init__(self, geometry: Geometry | dict[str, Any], *, iterations: int = 10, primal_channels: int = 5,
                 dual_channels: int = 5, hidden_channels: int = 32, dual_hidden_channels: int | None = None,
                 layers: int = 3, initialization: Initialization = "fbp", zero_init_updates: bool = True,
                 **options: Any) -> None:
        super().__init__(geometry, **options)
        dual_hidden_channels = hidden_channels if dual_hidden_channels is None else dual_hidden_channels
        _check_counts(iterations=iterations, primal_channels=primal_channels, dual_channels=dual_channels,
                      hidden_channels=hidden_channels, dual_hidden_channels=dual_hidden_channels, layers=layers)
        _check_initialization(initialization)
        self.initialization = initialization
        self.primal_channels = primal_channels
        self.dual_channels = dual_channels
        self.dual_updates = nn.ModuleList(
            conv_block(dual_channels + 2, dual_channels, hidden_channels=dual_hidden_channels, layers=layers,
                       zero_last=zero_init_updates)
            for _ in range(iterations)
        )
        self.primal_updates = nn.ModuleList(
            conv_block(primal_channels + 1, primal_channels, hidden_channels=hidden_channels, layers=layers,
                       zero_last=zero_init_updates)
            for _ in range(iterations)
        )

    def forward(self, y: Tensor) -> Tensor:
        """Sinograms ``(B, 1, A, D)`` -> images ``(B, 1, nx, ny)``."""
        image = self.initial_image(self.check_sinogram(y), self.initialization)
        data = y / self.scale()
        primal = image.expand(-1, self.primal_channels, -1, -1)
        dual = y.new_zeros((y.shape[0], self.dual_channels, *y.shape[2:]))
        second = min(1, self.primal_channels - 1)
        for dual_update, primal_update in zip(self.dual_updates, self.primal_updates):
            dual_input = torch.cat([dual, self.project(primal[:, second:second + 1]), data], dim=1)
            dual = dual + dual_update(channels_last(dual_input))
            primal_input = torch.cat([primal, self.backproject(dual[:, :1])], dim=1)
            primal = primal + primal_update(channels_last(primal_input))
        return primal[:, :1].contiguous()
