"""Sparse view: 60 of the 360 angles (every 6th) at 4096 photons per bin, 128²/183 bins.

The shipped models of the 360-angle preset cannot take these sinograms; the
learned row is ``lpd-sparse-small``, trained for 60 angles, and it and its
target are in the protocol exactly when ``recon/weights/lpd-sparse-small.safetensors``
is shipped; until then the results section says that it is missing.
Regenerate: ``python experiments/regenerate.py sparse_view``.
"""

from recon.benchmark.protocol import PRESET, TV_ORACLE, Protocol, Target
from recon.training.checkpoint import shipped_models

SPARSE_MODEL = "lpd-sparse-small"
SPARSE_TARGET = Target(method=SPARSE_MODEL, rival=TV_ORACLE, psnr_margin=2.0)
SHIPPED = SPARSE_MODEL in shipped_models()

PROTOCOL = Protocol(
    name="sparse_view",
    description="Sparse view (60 angles), 4096 photons per bin, 128²/183",
    photons=4096,
    geometry=PRESET.angle_subset(6),
    methods=("fbp", "odl-fbp", "sirt:iterations=200", "cgls:iterations=20", *((SPARSE_MODEL,) if SHIPPED else ())),
    targets=(SPARSE_TARGET,) if SHIPPED else (),
    notes=() if SHIPPED else (
        f"`{SPARSE_MODEL}` is not shipped yet (no `recon/weights/{SPARSE_MODEL}.safetensors`): this table has no "
        f"learned row, and its target ({SPARSE_TARGET.describe()}) is not checked; both appear once it is.",),
)
