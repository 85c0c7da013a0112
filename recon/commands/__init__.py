"""Subcommands of the ``recon`` command line, one module each."""
