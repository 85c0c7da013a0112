"""Collection of the docstring examples under recon/: the module that needs the optional deepinv only where it is installed."""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("deepinv") else ["recon/interop/deepinv.py"]
