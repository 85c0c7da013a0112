"""Convolutional building blocks shared by the model families."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["channels_last", "conv_block", "conv_bn_relu"]


def channels_last(x: Tensor) -> Tensor:
    """``x`` (B, C, H, W) stored channels-last, the layout oneDNN's convolutions run fastest on.

    Values and shape are unchanged. Feeding the update CNNs of the unrolled
    networks this way made a Learned Primal-Dual training step on the CPU
    1.76x faster at batch 8 (docs/benchmarks.md, same process).
    """
    return x.contiguous(memory_format=torch.channels_last)


def conv_block(in_channels: int, out_channels: int, *, hidden_channels: int = 32, layers: int = 3,
               kernel_size: int = 3, zero_last: bool = False) -> nn.Sequential:
    """``layers`` size-preserving convolutions with PReLU between them, none after the last.

    The learned update of the unrolled networks (Adler & Oktem 2018 use
    3 layers of 3x3 convolutions, 32 hidden channels).

    Parameters
    ----------
    in_channels, out_channels : int
    hidden_channels : int
        Channels between the layers.
    layers : int
        Number of convolutions, at least 1.
    kernel_size : int
        Odd side of every kernel.
    zero_last : bool
        Start the last convolution's weights and bias at zero, so that the
        untrained block outputs zeros: a residual update built on it starts
        as the identity.

    Returns
    -------
    torch.nn.Sequential
        Maps ``(B, in_channels, H, W)`` to ``(B, out_channels, H, W)``.
    """
    if layers < 1:
        raise ValueError(f"layers: expected at least 1, got {layers}")
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size: expected an odd size, got {kernel_size}")
    widths = [in_channels] + [hidden_channels] * (layers - 1) + [out_channels]
    modules: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:])):
        if index:
            modules.append(nn.PReLU(width_in))
        modules.append(nn.Conv2d(width_in, width_out, kernel_size, padding=kernel_size // 2))
    if zero_last:
        nn.init.zeros_(modules[-1].weight)
        nn.init.zeros_(modules[-1].bias)
    return nn.Sequential(*modules)


def conv_bn_relu(in_channels: int, out_channels: int, *, batch_norm: bool = True) -> nn.Sequential:
    """3x3 size-preserving convolution, optional batch normalisation, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batch_norm),
        nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity(),
        nn.ReLU(inplace=True),
    )
