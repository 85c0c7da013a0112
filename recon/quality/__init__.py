"""Task-based image quality: noise power spectrum, CT numbers, task transfer function, CHO detectability."""

from recon.quality.roi import Insert

__all__ = ["Insert"]
