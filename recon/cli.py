"""The ``recon`` command.

Every subcommand lives in its own module and exposes ``add_arguments(parser)``
and ``run(args) -> int``; :data:`COMMANDS` lists them. Errors a user can fix
(bad input, missing files) become one line on stderr and exit status 2, never
a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading

__all__ = ["main", "COMMANDS", "UsageError"]

#: subcommand -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("recon.commands.demo", "the main job: FBP, TV, ODL's FBP and the shipped models on simulated test data (~2 min): table, figure"),
    "info": ("recon.commands.info", "versions, backends and devices recon can use"),
    "simulate": ("recon.commands.simulate", "simulate low-dose sinogram/image pairs into HDF5 split files"),
    "train": ("recon.commands.train", "train a learned reconstructor from a YAML protocol"),
    "benchmark": ("recon.commands.benchmark", "compare reconstructors on one dataset: table, CSV/JSON/Markdown, figure"),
}


class UsageError(Exception):
    """An error caused by the user's input; reported in one line, exit status 2."""


_USER_ERRORS = (UsageError, ValueError, TypeError, FileNotFoundError, FileExistsError,
                PermissionError, IsADirectoryError, NotADirectoryError)


def build_parser() -> argparse.ArgumentParser:
    from recon import __version__

    parser = argparse.ArgumentParser(prog="recon", description="Low-dose CT reconstruction toolkit.")
    parser.add_argument("--version", action="version", version=f"recon {__version__}")
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
    files are removed and a training run keeps its last saved state.
    """
    args = build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("recon: interrupted", file=sys.stderr)
        return 130
    except _USER_ERRORS as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"recon {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
