"""Per-sample seeds: sample ``i`` of stream ``s`` under ``seed`` always gets the same draws.

Every seed of a sample derives from ``numpy.random.SeedSequence([seed, s, i])``,
so a sample's phantom, noise and dose do not depend on the batch size, the
worker count or the order of generation.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sample_seeds", "dose_seed"]


def sample_seeds(seed: int, index: int, *, stream: int = 0) -> tuple[int, int]:
    """``(phantom_seed, noise_seed)`` of sample ``index`` of ``stream`` under ``seed``."""
    phantom_seed, noise_seed = np.random.SeedSequence([seed, stream, index]).generate_state(2)
    return int(phantom_seed), int(noise_seed)


def dose_seed(seed: int, index: int, *, stream: int = 0) -> int:
    """Seed of the per-sample dose of sample ``index`` (the third word of its seed sequence)."""
    return int(np.random.SeedSequence([seed, stream, index]).generate_state(3)[2])
