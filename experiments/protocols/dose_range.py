"""Dose range: 1024 and 16384 photons per bin at 128²/360/183, a quarter and four times the training dose.

The shipped models were trained at 4096 photons: this measures how they hold
up when the dose shifts either way. Regenerate: ``python experiments/regenerate.py dose_range``.
"""

from recon.benchmark.protocol import TV_ORACLE, Protocol, Target

PROTOCOL = Protocol(
    name="dose_range",
    description="Dose range (1024 and 16384 photons per bin), 128²/360/183, models trained at 4096",
    photons=(1024, 16384),
    methods=("fbp", "lpd-small"),
    targets=(Target(method="lpd-small", rival=TV_ORACLE, psnr_margin=1.0, ssim_higher=True),),
)
