"""recon's test suite; it mirrors recon/.

The fuzz test of every file format is small by default; a long run:
``RECON_FUZZ_CASES=2000 .venv/bin/python -m pytest -p no:odl_plugins -q tests/test_fuzz.py``
(see tests/test_fuzz.py).
"""
