"""Dose range: 1024 and 16384 photons per bin at 128²/360/183, a quarter and four times LoDoPaB-CT's dose.

``lpd-small`` is trained on doses drawn from 1024 to 16384 photons: this
measures whether one model serves both ends of that range. Regenerate: ``python experiments/regenerate.py dose_range``.
"""

from recon.benchmark.protocol import TV_ORACLE, Protocol, Target

PROTOCOL = Protocol(
    name="dose_range",
    description="Dose range (1024 and 16384 photons per bin), 128²/360/183, lpd-small trained on 1024-16384",
    photons=(1024, 16384),
    methods=("fbp", "lpd-small"),
    targets=(Target(method="lpd-small", rival=TV_ORACLE, psnr_margin=1.0, ssim_higher=True),),
)
