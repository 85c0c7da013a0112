"""Ground-truth images and paired sinogram/image datasets."""
