"""Low dose: LoDoPaB-CT's 4096 photons per bin at 128²/360/183, the dose the shipped models were trained at.

Test and validation images, TV grid and bootstrap: recon's standard ones
(:mod:`recon.benchmark.protocol`). ``adapt:lpd-small`` is lpd-small fine-tuned on each batch of
test sinograms by SURE (no ground truth; its defaults were chosen on validation images), checked
against lpd-small itself on the real anatomy. ``n2i-small`` is fbpconvnet-small's U-Net trained by
Noise2Inverse from the training sinograms alone (experiments/n2i_small.yaml), checked against FBP and
against the same architecture trained with images. Regenerate: ``python experiments/regenerate.py low_dose``.
"""

from recon.benchmark.protocol import TV_ORACLE, Protocol, Target

LEARNED = ("lpd-small", "lgd-small", "fbpconvnet-small", "redcnn-small")
#: fbpconvnet-small's architecture trained without images (Noise2Inverse, recon.training.losses).
SELF_SUPERVISED = "n2i-small"
#: lpd-small adapted to the test sinograms themselves (recon.training.adaptation, its default settings).
ADAPTED = "adapt:lpd-small"

PROTOCOL = Protocol(
    name="low_dose",
    description="Low dose (4096 photons per bin), 128²/360/183",
    photons=4096,
    methods=("fbp", "odl-fbp", *LEARNED, SELF_SUPERVISED, ADAPTED),
    targets=(
        Target(method="lpd-small", rival=TV_ORACLE, psnr_margin=1.5, ssim_higher=True),
        Target(method="lpd-small", rival=TV_ORACLE, psnr_margin=1.0, group="anatomy"),
        *(Target(method=model, rival=TV_ORACLE, psnr_margin=0.0) for model in LEARNED[1:]),
        Target(method="lpd-small", rival="fbp", psnr_margin=5.0),
        Target(method=ADAPTED, rival="lpd-small", psnr_margin=0.5, group="anatomy"),
        Target(method=SELF_SUPERVISED, rival="fbp", psnr_margin=3.0),
        Target(method=SELF_SUPERVISED, rival="fbpconvnet-small", psnr_margin=-1.5),
    ),
)
