"""Speed of the learned reconstructors on CPU: inference per image and a training-step breakdown.

* Inference seconds per image of every registered model (FBPConvNet, RED-CNN,
  DnCNN, Learned Gradient Descent, Learned Primal-Dual) with the architecture of
  its ``experiments/<name>_small.yaml`` protocol (DnCNN: constructor defaults),
  untrained weights, ``torch.no_grad()``, at the small preset (128x128, 360
  angles, 183 bins) and at LoDoPaB-CT size (362x362, 1000 angles, 513 bins),
  batch 1 and a small batch; with the share of that time spent inside the ray
  transform (wall-clock time while any ``A`` or ``A^T`` call runs, FBP
  back-projections included: :class:`OperatorClock`).
* One training step (forward, MSE loss, backward, Adam step: the trainer's step
  without clipping and logging) of LPD and FBPConvNet at the small preset,
  batch 8, for the ``threads`` and the ``sparse`` CPU backend (and, for LPD,
  with the update CNNs fed plain NCHW tensors instead of channels-last ones,
  and with the update CNNs under bfloat16 autocast, the operators in
  float32), split into operator time (every ``A`` / ``A^T`` of the forward
  and of the backward) and the rest (convolutions forward and backward, FBP
  filtering, loss, optimiser).
* A roofline: the FLOPs of each inference and training step as torch's
  ``FlopCounterMode`` counts them (convolutions and matrix products; the ray
  transform and FFTs are not counted), and the rate the rest of the time
  achieves against this machine's measured matrix-product peak (a 2048x2048
  ``torch.mm``, float32 and bfloat16, median of 5).

The operator norm the models scale by (a power iteration, done once and then
stored with the weights, as a loaded checkpoint has it) is set before timing;
a rough estimate (10 iterations) serves, since its value does not change the
cost. Run from the repository root::

    python -m benchmarks.models            # full run, ~10 minutes on 2 cores; writes docs/benchmarks.md
    python -m benchmarks.models --quick    # small preset only, one repeat; prints, writes nothing
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import yaml

import recon
from benchmarks.common import (
    machine_description,
    markdown_table,
    median_seconds,
    write_section,
)
from recon.data.phantoms import shepp_logan
from recon.models import MODELS, build_model, unrolled
from recon.operators import RayTransform

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
SMALL = recon.Geometry.lodopab_small()
TRAINING_BATCH = 8


class OperatorClock:
    """Wall-clock seconds during which at least one ray-transform call (``A`` or ``A^T``) runs.

    Installed on the :class:`~recon.RayTransform` class, so it sees every
    instance (FBP back-projects with its own per-angle-block operators) and
    every thread; overlapping calls in parallel threads count once;
    :meth:`uninstall` puts the class back as it was.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._active = 0
        self._since = 0.0
        self._lock = threading.Lock()
        self._original = apply = RayTransform.apply_backend

        def timed(operator, data, *, adjoint):
            self._enter()
            try:
                return apply(operator, data, adjoint=adjoint)
            finally:
                self._exit()

        RayTransform.apply_backend = timed

    def uninstall(self) -> None:
        """Stop timing: the ray transform's own ``apply_backend`` again."""
        RayTransform.apply_backend = self._original

    def _enter(self) -> None:
        with self._lock:
            if self._active == 0:
                self._since = time.perf_counter()
            self._active += 1

    def _exit(self) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0:
                self.seconds += time.perf_counter() - self._since


def matmul_peak(dtype: torch.dtype, size: int = 2048) -> float:
    """GFLOP/s of a ``size`` x ``size`` matrix product in ``dtype`` on the CPU (median of 5 after one warm-up)."""
    a, b = (torch.randn(size, size).to(dtype) for _ in range(2))
    return 2 * size**3 / median_seconds(lambda: torch.mm(a, b), repeats=5, warmup=1) / 1e9


def counted_gflop(function: Callable[[], object]) -> float:
    """GFLOP of one ``function()`` as ``FlopCounterMode`` counts them (convolutions, matrix products)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        function()
    return counter.get_total_flops() / 1e9


class Bfloat16Updates(torch.nn.Module):
    """An update CNN run under bfloat16 autocast, its output back in float32 (the operators stay float32)."""

    def __init__(self, block: torch.nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.block(x).float()


def bfloat16_updates(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` (an unrolled network) with every update CNN wrapped in :class:`Bfloat16Updates`."""
    for name in ("dual_updates", "primal_updates", "updates"):
        blocks = getattr(model, name, None)
        if blocks is not None:
            for index in range(len(blocks)):
                blocks[index] = Bfloat16Updates(blocks[index])
    return model


def model_arguments(name: str) -> dict:
    """The architecture of the model's small protocol, or the constructor defaults."""
    path = EXPERIMENTS / f"{name}_small.yaml"
    return dict(yaml.safe_load(path.read_text()).get("model_args", {})) if path.exists() else {}


def prepared_model(name: str, geometry: recon.Geometry, cpu_backend: str, norm: float) -> torch.nn.Module:
    """An untrained model with its operator norm set."""
    torch.manual_seed(0)
    model = build_model(name, geometry=geometry, cpu_backend=cpu_backend, **model_arguments(name))
    model.operator_norm.fill_(norm)
    return model


def sinograms(geometry: recon.Geometry, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(y (batch, 1, A, D), x (batch, 1, n, n))``: noise-free Shepp-Logan projections."""
    x = torch.from_numpy(shepp_logan(geometry.image_shape))[None, None].repeat(batch, 1, 1, 1)
    return recon.RayTransform(geometry)(x), x


def timed(function: Callable[[], object], clock: OperatorClock, repeats: int, warmup: int) -> tuple[float, float]:
    """Median total and median operator seconds of ``function()`` (same runs)."""
    operator_seconds = []

    def run() -> None:
        before = clock.seconds
        function()
        operator_seconds.append(clock.seconds - before)

    total = median_seconds(run, repeats=repeats, warmup=warmup)
    return total, statistics.median(operator_seconds[warmup:])


def inference_rows(clock: OperatorClock, geometry: recon.Geometry, label: str, batches: tuple[int, int],
                   repeats: int, warmup: int, peak: float) -> list[list[object]]:
    norm = recon.RayTransform(geometry).norm(iterations=10, rtol=1e-3)
    rows = []
    for name in sorted(MODELS):
        model = prepared_model(name, geometry, "threads", norm)
        model.eval()
        cells = []
        for batch in batches:
            y, _ = sinograms(geometry, batch)
            with torch.no_grad():
                total, operator = timed(functools.partial(model, y), clock, repeats, warmup)
                gflop = counted_gflop(functools.partial(model, y)) / batch
            cells += [f"{total / batch:.3f}", f"{100 * operator / total:.0f} %"]
        rate = gflop * batch / max(total - operator, 1e-9)
        cells += [f"{gflop:.2f}", f"{rate:.0f}", f"{100 * rate / peak:.0f} %"]
        print(f"{label} {name}: {cells}", flush=True)
        rows.append([name, label, *cells])
    return rows


def training_step(model: torch.nn.Module, y: torch.Tensor, x: torch.Tensor) -> Callable[[], None]:
    """One optimiser step of ``model`` on the batch ``(y, x)``: forward, MSE, backward, Adam."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model(y), x).backward()
        optimizer.step()

    return step


@contextlib.contextmanager
def nchw_unrolled_updates() -> Iterator[None]:
    """Feed the unrolled networks' update CNNs plain NCHW tensors instead of channels-last ones."""
    layout = unrolled.channels_last
    unrolled.channels_last = lambda x: x
    try:
        yield
    finally:
        unrolled.channels_last = layout


def training_rows(clock: OperatorClock, repeats: int, peaks: dict[str, float]) -> list[list[object]]:
    norm = recon.RayTransform(SMALL).norm(iterations=10, rtol=1e-3)
    y, x = sinograms(SMALL, TRAINING_BATCH)
    nothing = contextlib.nullcontext
    cases = [("lpd", "threads", "channels-last", "float32", nothing),
             ("lpd", "sparse", "channels-last", "float32", nothing),
             ("lpd", "sparse", "NCHW", "float32", nchw_unrolled_updates),
             ("lpd", "sparse", "channels-last", "bfloat16", nothing),
             ("fbpconvnet", "threads", "NCHW", "float32", nothing),
             ("fbpconvnet", "sparse", "NCHW", "float32", nothing)]
    rows = []
    for name, backend, layout, precision, context in cases:
        model = prepared_model(name, SMALL, backend, norm)
        if precision == "bfloat16":
            model = bfloat16_updates(model)
        step = training_step(model.train(), y, x)
        with context():
            total, operator = timed(step, clock, repeats, warmup=1)  # warm-up builds the sparse matrix
            gflop = counted_gflop(step)
        rate = gflop / max(total - operator, 1e-9)
        row = [name, backend, layout, precision, f"{total:.2f}", f"{operator:.2f}", f"{total - operator:.2f}",
               f"{100 * operator / total:.0f} %", f"{gflop:.0f}", f"{rate:.0f}", f"{100 * rate / peaks[precision]:.0f} %"]
        print("training", row, flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs at the small preset (default 3)")
    parser.add_argument("--training-repeats", type=int, default=2,
                        help="timed training steps per case, after one warm-up (default 2)")
    parser.add_argument("--lodopab-repeats", type=int, default=1,
                        help="timed runs at LoDoPaB size, after no warm-up (default 1)")
    parser.add_argument("--quick", action="store_true", help="small preset, one repeat, nothing written")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    start = time.perf_counter()
    repeats = 1 if args.quick else args.repeats
    peaks = {"float32": matmul_peak(torch.float32), "bfloat16": matmul_peak(torch.bfloat16)}
    clock = OperatorClock()
    inference = inference_rows(clock, SMALL, "128²/360/183", (1, 4), repeats, warmup=1, peak=peaks["float32"])
    if not args.quick:
        inference += inference_rows(clock, recon.Geometry.lodopab(), "LoDoPaB 362²/1000/513", (1, 2),
                                    args.lodopab_repeats, warmup=0, peak=peaks["float32"])
    training_repeats = 1 if args.quick else args.training_repeats
    training = training_rows(clock, training_repeats, peaks)
    minutes = (time.perf_counter() - start) / 60
    end_load = os.getloadavg()[0]
    markdown = "\n\n".join([
        "## Learned models on CPU (`benchmarks/models.py`)",
        (f"Machine: {machine_description()}; load average {load:.1f} when the run started and "
         f"{end_load:.1f} when it ended (the 2 cores are shared with other jobs, so absolute times are "
         f"upper bounds); the run took {minutes:.1f} min. "
         "Untrained models with the architectures of the `experiments/*_small.yaml` protocols "
         "(DnCNN: defaults, 17 layers of 64 channels), operator norm precomputed, `threads` backend."),
        (f"Inference, seconds per image and the share of it during which a ray-transform call (`A` or "
         f"`A^T`, FBP back-projection included) runs (median of {repeats} runs after "
         f"one warm-up at 128²; at LoDoPaB size {args.lodopab_repeats} run(s) without warm-up, to keep the "
         "whole run near 10 minutes: read those as indicative):"),
        markdown_table(["model", "geometry", "s / image, batch 1", "operator share", "s / image, small batch",
                        "operator share", "GFLOP / image", "GFLOP/s, rest", "of the float32 peak"], inference),
        ("Small batch: 4 at 128², 2 at LoDoPaB size. Batch-1 rows of the small convolutional models are "
         "the most sensitive to other jobs on the cores: torch's two OpenMP threads wait for each other "
         "when one core is taken (a FBPConvNet U-Net pass at 128² took 0.04 s on free cores and up to "
         "1 s with one core busy); compare rows of one run only."),
        (f"One training step (forward + MSE + backward + Adam), batch {TRAINING_BATCH} at 128²/360/183, "
         f"seconds, median of {training_repeats} runs after one warm-up; operator = every `A` and `A^T` call "
         "of the forward and the backward pass; rest = convolutions, FBP filtering, loss and optimiser:"),
        markdown_table(["model", "CPU backend", "CNN input layout", "update CNNs", "step (s)", "operator (s)",
                        "rest (s)", "operator share", "GFLOP / step", "GFLOP/s, rest", "of its precision's peak"],
                       training),
        ("Layout: recon feeds the update CNNs of the unrolled networks channels-last tensors, on which "
         "oneDNN's convolutions (and PReLU's backward) run faster than on NCHW ones; the NCHW row is the "
         "same step with that switched off, run in the same process. The bfloat16 row runs the update CNNs "
         "under `torch.autocast('cpu', torch.bfloat16)` (operators, FBP, loss and optimiser in float32): a "
         "measurement, not recon's default; its effect on training results is not yet measured."),
        (f"Roofline: GFLOP as `torch.utils.flop_counter.FlopCounterMode` counts them (convolutions and "
         f"matrix products, forward and backward; the ray transform, FFTs and element-wise operations are not "
         f"counted); GFLOP/s, rest = those GFLOP over the time outside the operator (inference at the small batch, "
         f"training at batch {TRAINING_BATCH}); "
         f"peaks measured in the same run by a 2048x2048 `torch.mm`: float32 {peaks['float32']:.0f} GFLOP/s, "
         f"bfloat16 {peaks['bfloat16']:.0f} GFLOP/s."),
    ])
    print(markdown)
    if not args.quick:
        write_section("models", markdown)


if __name__ == "__main__":
    main()
