"""Speed and memory of recon's ray transform against raw ASTRA, ODL and DeepInverse.

Run from the repository root::

    python benchmarks/operators.py           # full run (about 20 minutes on a busy 2-core machine), writes docs/benchmarks.md
    python benchmarks/operators.py --quick   # smoke run at 128x128 only; prints, writes nothing
    python benchmarks/operators.py --wait-idle 60   # before each timing cell, wait up to 60 s for a quiet machine

Its timing and memory helpers are in ``benchmarks/measure.py``, its report in ``benchmarks/operators_report.py``.

What is measured, per geometry (128²/360/183, 256²/360/363 and LoDoPaB 362²/1000/513):

* forward and adjoint seconds per image at batch 1 and batch 8 for recon's
  ``threads`` backend (ASTRA CPU ``linear`` projector, batch spread over a
  thread pool) and ``sparse`` backend (ASTRA's system matrix applied with
  ``torch.sparse.mm``), raw single-threaded ASTRA (``astra.projector.direct_FP``
  / ``direct_BP`` into preallocated tensors, in a plain loop; plus the classic
  ``astra.create_sino`` / ``create_backprojection`` path at batch 1), ODL 1.0's
  ``RayTransform(impl='astra_cpu')`` (numpy in, ODL element out, one image per
  call) and DeepInverse's ``Tomography`` with its exact adjoint
  (``adjoint_via_backprop=True``), when DeepInverse imports. The methods of one
  (geometry, batch, direction) cell are timed round-robin, so a change in the
  machine's load hits them all alike; each figure is a median. Speed-ups are
  ratios within this one run.
* the sparse backend's build: time, peak memory, matrix bytes, cache file size,
  load-from-cache time (in a fresh subprocess, with an empty temporary cache).
* peak memory of one forward + adjoint at LoDoPaB size, batch 1 and 8, each case
  in a fresh subprocess: the peak resident set (``VmHWM``) is reset with
  ``/proc/self/clear_refs`` after the imports, the operator's construction and the
  input's allocation, so the figure is the extra memory the call itself needs.
  It is compared with the bytes of the tensors the call returns (sinogram and
  back-projection) and with what raw ASTRA itself allocates for the same calls.

DeepInverse 0.5 pulls in torchvision 0.28, whose compiled ops exist only for
CUDA builds of torch; :func:`recon.interop.import_deepinv` imports it beside the
CPU torch (schema-only stubs of the two missing operators, which DeepInverse's
tomography never calls). Install it with recon's extra::

    .venv/bin/pip install torch==2.13.0 -e ".[deepinv]"
    .venv/bin/python benchmarks/operators.py

Without DeepInverse the script runs all the other rows.

All methods share one process and are timed round-robin. With OpenMP's default
wait policy, torch's threads keep spinning for a while after every torch-based
row (sparse backend, DeepInverse) and take cycles from the ASTRA threads timed
next; ``OMP_WAIT_POLICY=PASSIVE`` (recorded in the report's command line) puts
them to sleep instead, which is how the published numbers are taken. Measured
alone, recon's thread pool scales the same with either policy.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as ``python benchmarks/operators.py``: import the benchmarks package from the root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine_description, write_section
from benchmarks.measure import (
    ForeignLoad,
    GiB,
    available_memory,
    memory_status,
    one_thread,
    reset_peak,
    round_robin,
    wait_until_quiet,
)
from benchmarks.operators_report import (
    BATCHES,
    CLASSIC,
    DINV,
    LABELS,
    ODL,
    RAW,
    SIZES,
    SPARSE,
    SPARSE1,
    THREADS,
    make_report,
)
from recon.operators.backends.astra_geometry import astra_geometries_2d
from recon.operators.odl_geometry import geometry_to_odl


# ----------------------------------------------------------------- utilities
def import_deepinv():
    """``(deepinv, None)``, or ``(None, reason)`` when it cannot be imported (:func:`recon.interop.import_deepinv`)."""
    from recon.interop import import_deepinv as import_module

    try:
        return import_module(), None
    except ImportError as err:
        return None, str(err)


def geometry_for(size: str):
    import recon

    return recon.Geometry.lodopab() if size == "lodopab" else recon.Geometry.parallel(**SIZES[size])


# ------------------------------------------------------------------ methods
class Methods:
    """The callables timed at one geometry: ``calls[name][(direction, batch)]``."""

    def __init__(self, size: str, deepinv, with_sparse: bool):
        import astra
        import torch

        import recon

        self.geometry = geometry = geometry_for(size)
        nx, ny = geometry.image_shape
        na, nd = geometry.sinogram_shape
        generator = torch.Generator().manual_seed(0)
        self.calls: dict[str, dict[tuple[str, int], callable]] = {}
        self.notes: dict[str, str] = {}
        self.closers = []
        for batch in BATCHES:
            x = torch.rand((batch, 1, nx, ny), generator=generator)
            y = torch.rand((batch, 1, na, nd), generator=generator)
            sino = torch.empty_like(y)
            image = torch.empty_like(x)

            # raw ASTRA, single-threaded, into preallocated tensors
            vol_geom, proj_geom = astra_geometries_2d(geometry)
            projector = astra.create_projector("linear", proj_geom, vol_geom)
            self.closers.append(lambda p=projector: astra.projector.delete(p))

            def raw_fp(x=x, sino=sino, p=projector):
                for i in range(len(x)):
                    astra.projector.direct_FP(p, x[i, 0], out=sino[i, 0])

            def raw_bp(y=y, image=image, p=projector):
                for i in range(len(y)):
                    astra.projector.direct_BP(p, y[i, 0], out=image[i, 0])

            self.add(RAW, batch, raw_fp, raw_bp)

            if batch == 1:
                xn, yn = x[0, 0].numpy(), y[0, 0].numpy()

                def classic_fp(xn=xn, p=projector):
                    sid, data = astra.create_sino(xn, p)
                    astra.data2d.delete(sid)
                    return data

                def classic_bp(yn=yn, p=projector):
                    bid, data = astra.create_backprojection(yn, p)
                    astra.data2d.delete(bid)
                    return data

                self.add(CLASSIC, batch, classic_fp, classic_bp)

            # recon, thread-pool backend
            threads = recon.RayTransform(geometry, cpu_backend="threads")
            threads.backend_for(torch.device("cpu"))
            self.add(THREADS, batch, lambda A=threads, x=x: A(x), lambda A=threads, y=y: A.adjoint(y))
            self.closers.append(threads.close)

            if with_sparse:
                if batch == 1:
                    sparse = recon.RayTransform(geometry, cpu_backend="sparse")
                    start = time.perf_counter()
                    sparse.backend_for(torch.device("cpu"))
                    self.sparse_load_seconds = time.perf_counter() - start
                    self.closers.append(sparse.close)
                self.add(SPARSE, batch, lambda A=sparse, x=x: A(x), lambda A=sparse, y=y: A.adjoint(y))
                self.add(
                    SPARSE1,
                    batch,
                    lambda A=sparse, x=x: one_thread(lambda: A(x)),
                    lambda A=sparse, y=y: one_thread(lambda: A.adjoint(y)),
                )

            # ODL 1.0, one image per call, numpy in, ODL element out
            if batch == 1:
                from odl.applications import tomo

                space, odl_geometry = geometry_to_odl(geometry)
                odl_op = tomo.RayTransform(space, odl_geometry, impl="astra_cpu")
                odl_adjoint = odl_op.adjoint
            xs = [x[i, 0].numpy() for i in range(batch)]
            ys = [y[i, 0].numpy() for i in range(batch)]
            if not (size == "lodopab" and batch > 1):  # a loop of batch-1 calls; saves 1 min
                self.add(
                    ODL,
                    batch,
                    lambda op=odl_op, xs=xs: [op(v) for v in xs],
                    lambda op=odl_adjoint, ys=ys: [op(v) for v in ys],
                )

            # DeepInverse, exact (autograd) adjoint
            if deepinv is not None and size != "lodopab":
                if batch == 1:
                    physics = deepinv_physics(deepinv, geometry)
                with torch.no_grad():
                    y_dinv = physics.A(x).clone().uniform_()
                self.notes[DINV] = f"sinogram {tuple(y_dinv.shape[2:])} (detectors x angles)"
                self.add(
                    DINV,
                    batch,
                    lambda P=physics, x=x: P.A(x),
                    lambda P=physics, y=y_dinv: P.A_adjoint(y),
                )

    def add(self, name, batch, forward, adjoint):
        self.calls.setdefault(name, {})[("forward", batch)] = forward
        self.calls[name][("adjoint", batch)] = adjoint

    def close(self):
        for close in self.closers:
            close()
        self.calls.clear()
        gc.collect()


def deepinv_physics(deepinv, geometry):
    """DeepInverse's parallel-beam ``Tomography`` with the geometry's angles and image size."""
    import torch

    degrees = torch.tensor([math.degrees(a) for a in geometry.angles], dtype=torch.float32)
    return deepinv.physics.Tomography(
        angles=degrees,
        img_width=geometry.image_shape[0],
        circle=False,
        adjoint_via_backprop=True,
        normalize=False,
    )


def time_size(size: str, deepinv, with_sparse: bool, repeats: dict[int, int],
              wait_idle: float = 0.0) -> tuple[dict, dict]:
    """``{(name, direction, batch): seconds per image}`` and notes, for one geometry."""
    methods = Methods(size, deepinv, with_sparse)
    foreign = ForeignLoad()
    results = {}
    try:
        for batch in BATCHES:
            for direction in ("forward", "adjoint"):
                functions = {
                    name: calls[(direction, batch)]
                    for name, calls in methods.calls.items()
                    if (direction, batch) in calls
                }
                cores = {}
                # the batch-8 round reuses what batch 1 warmed up, except at small
                # sizes, where DeepInverse builds a new autograd adjoint per batch shape
                warmup = 0 if (batch > 1 and size == "lodopab") else 1
                if wait_idle:
                    wait_until_quiet(wait_idle)
                foreign.start()
                medians = round_robin(functions, repeats[batch], warmup=warmup, cores=cores)
                results[("foreign", direction, batch)] = foreign.stop()
                for name, seconds in medians.items():
                    results[(name, direction, batch)] = seconds / batch
                    results[("cores", name, direction, batch)] = cores[name]
                print(
                    f"  {LABELS[size]} {direction} batch {batch}: "
                    + ", ".join(f"{n} {1e3 * s / batch:.1f}" for n, s in medians.items())
                    + f" ms/image; other processes used {results[('foreign', direction, batch)]:.2f} cores",
                    flush=True,
                )
        notes = dict(methods.notes)
        if hasattr(methods, "sparse_load_seconds"):
            notes["sparse_load_seconds"] = methods.sparse_load_seconds
    finally:
        methods.close()
    return results, notes


def call_overhead() -> dict[str, float]:
    """Microseconds per call at a tiny geometry (16²/8/23), where the fixed cost dominates."""
    import astra
    import torch

    import recon

    geometry = recon.Geometry.parallel(image_size=16, num_angles=8, num_detectors=23)
    A = recon.RayTransform(geometry, cpu_backend="threads")
    A.backend_for(torch.device("cpu"))
    x, y = torch.rand(1, 1, 16, 16), torch.rand(1, 1, 8, 23)
    sino, image = torch.empty(8, 23), torch.empty(16, 16)
    vol_geom, proj_geom = astra_geometries_2d(geometry)
    projector = astra.create_projector("linear", proj_geom, vol_geom)
    loops = 2000

    def many(function):
        def run():
            for _ in range(loops):
                function()
        return run

    medians = round_robin(
        {
            "raw direct_FP": many(lambda: astra.projector.direct_FP(projector, x[0, 0], out=sino)),
            "recon A(x)": many(lambda: A(x)),
            "raw direct_BP": many(lambda: astra.projector.direct_BP(projector, y[0, 0], out=image)),
            "recon A.adjoint(y)": many(lambda: A.adjoint(y)),
        },
        repeats=7,
    )
    astra.projector.delete(projector)
    A.close()
    return {name: 1e6 * seconds / loops for name, seconds in medians.items()}


# ---------------------------------------------------- subprocess measurements
def run_case(args: list[str], *, limit_bytes: int | None = None, timeout: float = 900) -> dict:
    """Run this script's ``--case`` mode in a fresh interpreter; its JSON result."""
    def limit():
        if limit_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    command = [sys.executable, str(Path(__file__).resolve()), "--case", *args]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, preexec_fn=limit
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = (completed.stderr or completed.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"error": f"exit {completed.returncode}: {tail[0][:200]}"}


def case_memory(kind: str, size: str, batch: int) -> dict:
    """Peak memory of building the operator and one forward + adjoint, in this fresh process.

    The peak resident set is reset after the imports and the input's
    allocation; ``peak_extra`` is what the operator's construction and the two
    calls added on top at their peak, ``operator_bytes`` what the constructed
    operator keeps resident before the calls.
    """
    import astra
    import torch

    import recon

    deepinv = None
    if kind == "deepinv":
        deepinv, reason = import_deepinv()
        if deepinv is None:
            return {"error": reason}
    geometry = geometry_for(size)
    nx, ny = geometry.image_shape
    na, nd = geometry.sinogram_shape
    x = torch.rand((batch, 1, nx, ny))
    gc.collect()
    base = memory_status()["VmRSS"]
    reset_peak()
    if kind == "astra":  # outputs allocated here, so they count like the others' outputs
        vol_geom, proj_geom = astra_geometries_2d(geometry)
        projector = astra.create_projector("linear", proj_geom, vol_geom)

        def run():
            sino = torch.empty((batch, 1, na, nd))
            image = torch.empty_like(x)
            for i in range(batch):
                astra.projector.direct_FP(projector, x[i, 0], out=sino[i, 0])
            for i in range(batch):
                astra.projector.direct_BP(projector, sino[i, 0], out=image[i, 0])
            return sino, image
    elif kind == "threads":
        A = recon.RayTransform(geometry, cpu_backend="threads")
        A.backend_for(torch.device("cpu"))

        def run():
            sino = A(x)
            return sino, A.adjoint(sino)
    elif kind == "deepinv":
        physics = deepinv_physics(deepinv, geometry)

        def run():
            sino = physics.A(x)
            return sino, physics.A_adjoint(sino)
    else:
        raise ValueError(kind)
    operator_bytes = memory_status()["VmRSS"] - base
    start = time.perf_counter()
    try:
        outputs = run()
    except (MemoryError, RuntimeError) as err:
        wanted = re.search(r"tried to allocate (\d+) bytes", str(err))
        message = (f"cannot allocate one {int(wanted.group(1)) / GiB:.1f} GiB block" if wanted
                   else f"{type(err).__name__}: {str(err).splitlines()[0][:160]}")
        return {"error": message,
                "peak_extra": memory_status()["VmHWM"] - base, "operator_bytes": operator_bytes}
    seconds = time.perf_counter() - start
    status = memory_status()
    return {
        "peak_extra": status["VmHWM"] - base,
        "operator_bytes": operator_bytes,
        "process_peak": status["VmHWM"],
        "baseline": base,
        "input_bytes": x.nbytes,
        "output_bytes": sum(t.nbytes for t in outputs),
        "seconds": seconds,
    }


def case_sparse_build(size: str) -> dict:
    """Build the sparse backend from an empty cache, then load it from the cache."""
    import torch

    import recon
    from recon.operators.backends.sparse import _cache_path, stored_geometry

    geometry = geometry_for(size)
    base = memory_status()["VmRSS"]
    reset_peak()
    A = recon.RayTransform(geometry, cpu_backend="sparse")
    start = time.perf_counter()
    backend = A.backend_for(torch.device("cpu"))
    build = time.perf_counter() - start
    status = memory_status()
    result = {
        "build_seconds": build,
        "build_peak_extra": status["VmHWM"] - base,
        "resident_extra": status["VmRSS"] - base,
        "nbytes": backend.nbytes,
        "nnz": int(backend.matrix.values().numel()),
        "stored_views": int(backend.matrix.shape[0] // geometry.num_detectors),
        "views": geometry.num_angles,
        "cache_file_bytes": _cache_path(stored_geometry(geometry)[0], A.projector).stat().st_size,
    }
    # one forward + adjoint at batch 8: extra memory of the multiplication itself
    nx, ny = geometry.image_shape
    x = torch.rand((8, 1, nx, ny))
    gc.collect()
    before = memory_status()["VmRSS"]
    reset_peak()
    sino = A(x)
    A.adjoint(sino)
    result["apply8_peak_extra"] = memory_status()["VmHWM"] - before
    return result


def case_sparse_build_every_view(size: str) -> dict:
    """Build the matrix of every view (``use_symmetry=False``, as before the symmetric storage), no cache."""
    from recon.operators.backends.sparse import SparseMatrixBackend

    geometry = geometry_for(size)
    base = memory_status()["VmRSS"]
    reset_peak()
    start = time.perf_counter()
    backend = SparseMatrixBackend(geometry, "linear", cache=False, use_symmetry=False)
    build = time.perf_counter() - start
    return {"build_seconds": build, "build_peak_extra": memory_status()["VmHWM"] - base,
            "nbytes": backend.nbytes, "nnz": int(backend.matrix.values().numel()),
            "stored_views": geometry.num_angles, "views": geometry.num_angles}


# -------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run at 128² only; writes nothing")
    parser.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="before each timing cell, wait up to this long for other processes to go quiet")
    parser.add_argument("--case", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.case:  # internal: one measurement in a fresh process
        kind, *rest = args.case
        if kind == "sparse-build":
            result = case_sparse_build(rest[0])
        elif kind == "sparse-build-every-view":
            result = case_sparse_build_every_view(rest[0])
        else:
            result = case_memory(kind, rest[0], int(rest[1]))
        print(json.dumps(result))
        return

    import torch

    started = time.perf_counter()
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    deepinv, deepinv_reason = import_deepinv()
    print(machine_description())
    print(f"torch threads: {torch.get_num_threads()}; DeepInverse: "
          + (deepinv.__version__ if deepinv else deepinv_reason), flush=True)
    sizes = ["128"] if args.quick else list(SIZES)
    repeats = {"128": {1: 15, 8: 7}, "256": {1: 9, 8: 5}, "lodopab": {1: 5, 8: 3}}
    if args.quick:
        repeats = {"128": {1: 3, 8: 2}}
    memory_size = "128" if args.quick else "lodopab"

    cache = tempfile.mkdtemp(prefix="recon-bench-matrices-")
    os.environ["RECON_CACHE_DIR"] = cache  # children inherit it: build fresh, then load
    results, notes, sparse_info = {}, {}, {}
    try:
        for size in sizes:
            with_sparse = True
            if size == "lodopab" and available_memory() < 10 * GiB:
                sparse_info[size] = {"error": f"skipped: only {available_memory() / GiB:.1f} GiB available"}
                with_sparse = False
            else:
                print(f"building the sparse matrix for {LABELS[size]} in a subprocess ...", flush=True)
                sparse_info[size] = run_case(["sparse-build", size])
                with_sparse = "error" not in sparse_info[size]
                sparse_info[size]["every_view"] = run_case(["sparse-build-every-view", size])
                print(f"  {sparse_info[size]}", flush=True)
            print(f"timing {LABELS[size]} ...", flush=True)
            size_results, size_notes = time_size(size, deepinv, with_sparse, repeats[size], args.wait_idle)
            results.update({(size, *key): value for key, value in size_results.items()})
            notes[size] = size_notes
            if "sparse_load_seconds" in size_notes:
                sparse_info[size]["load_seconds"] = size_notes["sparse_load_seconds"]
            gc.collect()
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    overhead = call_overhead()
    print(f"per-call cost at 16²/8/23: {overhead}", flush=True)
    notes["overhead"] = overhead

    memory = {}
    for kind in ("astra", "threads", "deepinv"):
        for batch in BATCHES:
            if kind == "deepinv" and deepinv is None:
                continue
            limit = None
            if kind == "deepinv":  # do not let it take the machine down: cap its address space
                limit = int(min(available_memory() - 2 * GiB, 16 * GiB))
                if limit < 4 * GiB:
                    memory[(kind, batch)] = {"error": "skipped: not enough free memory"}
                    continue
            print(f"memory: {kind} batch {batch} at {LABELS[memory_size]} ...", flush=True)
            memory[(kind, batch)] = run_case([kind, memory_size, str(batch)], limit_bytes=limit)
            if limit:
                memory[(kind, batch)]["limit"] = limit
            print(f"  {memory[(kind, batch)]}", flush=True)

    notes["load"] = (load_start, Path("/proc/loadavg").read_text().split()[:3])
    report = make_report(args, sizes, results, notes, sparse_info, memory, memory_size, deepinv,
                         deepinv_reason, time.perf_counter() - started)
    print()
    print(report)
    if not (args.quick or args.no_write):
        write_section("operators", report)
        print("\nwritten to docs/benchmarks.md (section 'operators')")


if __name__ == "__main__":
    main()
