"""The benchmark harness: many reconstructors, one dataset, LoDoPaB-style tables and figures.

* :mod:`~recon.benchmark.methods`: reconstructors from specs (``fbp:filter=hann``,
  ``tv:weight=0.1``, the peers ``odl-fbp`` and ``deepinv-fbp``, a checkpoint or a
  shipped model name);
* :mod:`~recon.benchmark.data`: built-in simulated phantoms (with a dose
  sweep), a recon HDF5 file or a LoDoPaB-CT folder;
* :mod:`~recon.benchmark.scoring`: PSNR, SSIM, data consistency and HU error and
  noise in a region of interest per image;
* :mod:`~recon.benchmark.runner`: the loop, with per-method resume;
* :mod:`~recon.benchmark.report`, :mod:`~recon.benchmark.figure`: CSV, JSON,
  Markdown and the PNG of examples with error maps;
* :mod:`~recon.benchmark.pipeline`: :func:`benchmark`, all of it in one call
  (what ``recon benchmark`` runs);
* :mod:`~recon.benchmark.protocol`: benchmark protocols as typed values (test
  and validation images, methods, TV grid, targets), run by
  :func:`~recon.benchmark.protocol_run.run_protocol` with the TV rows of
  :mod:`~recon.benchmark.tv_rows`, the refusal of
  :mod:`~recon.benchmark.provenance`, the paired intervals of
  :mod:`~recon.benchmark.comparison` and the reports of
  :mod:`~recon.benchmark.protocol_report`.

Examples
--------
>>> from pathlib import Path
>>> import recon
>>> from recon.benchmark import RunConfig, benchmark, builtin_data
>>> g = recon.Geometry.parallel(image_size=64, num_angles=90, num_detectors=91)
>>> outcome = benchmark(builtin_data(g, 8), ["fbp", "tv"], RunConfig(output=Path("bench")))  # doctest: +SKIP
>>> print(outcome.table)  # doctest: +SKIP
"""

from recon.benchmark.data import BenchmarkData, builtin_data, open_data
from recon.benchmark.methods import Method, build_method, build_methods, parse_spec
from recon.benchmark.pipeline import BenchmarkOutcome, benchmark
from recon.benchmark.protocol import Bootstrap, ImageSet, Protocol, Target, TvGrid
from recon.benchmark.protocol_outcome import ProtocolOutcome
from recon.benchmark.protocol_run import run_protocol
from recon.benchmark.runner import REFERENCE, MethodResult, RunConfig, run_benchmark
from recon.benchmark.scoring import data_consistency

__all__ = [
    "REFERENCE",
    "BenchmarkData",
    "BenchmarkOutcome",
    "Bootstrap",
    "ImageSet",
    "Method",
    "MethodResult",
    "Protocol",
    "ProtocolOutcome",
    "RunConfig",
    "Target",
    "TvGrid",
    "benchmark",
    "build_method",
    "build_methods",
    "builtin_data",
    "data_consistency",
    "open_data",
    "parse_spec",
    "run_benchmark",
    "run_protocol",
]
