"""The ``recon`` command.

Every subcommand lives in its own module and exposes ``add_arguments(parser)``
and ``run(args) -> int``; :data:`COMMANDS` lists them.

Error policy: errors a user can fix (:func:`is_user_error`: bad input, missing
or unwritable files, a full disk, an output folder in use) become one line on
stderr and exit status 2. Anything else is a bug: one line naming the error
and how to see its traceback, exit status 1. ``recon --debug ...`` or the
environment variable ``RECON_DEBUG=1`` re-raise every error instead, with its
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from recon.errors import USER_ERRNOS, UsageError, is_user_error

__all__ = ["main", "COMMANDS", "UsageError", "is_user_error"]

#: subcommand -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("recon.commands.demo", "the main job: FBP, TV, ODL's FBP and the shipped models on simulated test data (~2 min): table, figure"),
    "info": ("recon.commands.info", "versions, backends and devices recon can use"),
    "simulate": ("recon.commands.simulate", "simulate low-dose sinogram/image pairs into HDF5 split files"),
    "train": ("recon.commands.train", "train a learned reconstructor from a YAML protocol"),
    "benchmark": ("recon.commands.benchmark", "compare reconstructors on one dataset: table, CSV/JSON/Markdown, figure"),
    "reconstruct": ("recon.commands.reconstruct", "reconstruct your own sinograms: HDF5, NIfTI, DICOM, TIFF or PNG"),
    "iq": ("recon.commands.iq", "task-based image quality on QA phantoms: noise, NPS, TTF, CT numbers, CHO d'"),
}

#: The environment variable that, set to 1, shows tracebacks (like ``--debug``).
DEBUG_VARIABLE = "RECON_DEBUG"


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.errno in USER_ERRNOS and error.filename is not None:
        message = f"{error.filename}: expected a writable file or folder, got: {error.strerror}"
    else:
        message = str(error)
    return " ".join(message.split()) or type(error).__name__


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the usage is one ``--help`` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from recon.version import __version__

    parser = _Parser(prog="recon", description="Low-dose CT reconstruction toolkit.")
    parser.add_argument("--version", action="version", version=f"recon {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help=f"show the traceback of any error (also: {DEBUG_VARIABLE}=1)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``recon`` console script; returns the exit status.

    SIGTERM (a job scheduler's stop, ``kill``) is handled like Ctrl-C: partial
    files are removed and a training run keeps its last saved state. Exit
    status 0 on success, 2 for a user error, 1 for any other error, 130 when
    interrupted (see the module's error policy).
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or an argument error already reported in one line
        return 0 if exit_.code is None else exit_.code if isinstance(exit_.code, int) else 2
    debug = args.debug or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:  # not an error: no traceback even with --debug
        print("recon: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        if is_user_error(error):
            print(f"recon {args.command}: error: {_one_line(error)}", file=sys.stderr)
            return 2
        print(f"recon {args.command}: internal error: {type(error).__name__}: {_one_line(error)} "
              f"(rerun as recon --debug {args.command} ... or with {DEBUG_VARIABLE}=1 to see the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
