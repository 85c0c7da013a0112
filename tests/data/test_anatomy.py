"""Real CT slices prepared as LoDoPaB-CT prepares them (evaluation data only)."""

from __future__ import annotations

import numpy as np
import pytest

from recon import Geometry
from recon.data.anatomy import ANATOMY_SLICES, CROP_SHIFTS, anatomy_images, installed_slices
from recon.data.dicom import fit_to_grid, lodopab_field, read_hu
from recon.physics import hu_to_normalized

SMALL = Geometry.parallel(image_size=48, num_angles=10, num_detectors=69)


def test_the_lodopab_field_of_a_512_slice_is_its_central_362_pixels_exactly():
    hu = np.random.default_rng(0).uniform(-1000, 2000, size=(2, 512, 512))
    field = lodopab_field(hu, Geometry.lodopab())
    # LoDoPaB-CT's generating script: data[75:-75, 75:-75] of each 512 x 512 slice
    np.testing.assert_array_equal(field, hu[:, 75:-75, 75:-75])
    np.testing.assert_array_equal(fit_to_grid(hu, (np.nan, np.nan), Geometry.lodopab(), fit="lodopab"), field)
    right = lodopab_field(hu, Geometry.lodopab(), shift=(1.0, 0.0))
    np.testing.assert_array_equal(right, hu[:, 150:, 75:-75])
    bottom = lodopab_field(hu, Geometry.lodopab(), shift=(0.0, -1.0))
    np.testing.assert_array_equal(bottom, hu[:, 75:-75, :362])
    with pytest.raises(ValueError, match=r"shift: expected offsets in \[-1, 1\]"):
        lodopab_field(hu, Geometry.lodopab(), shift=(1.5, 0.0))


def test_the_field_on_a_coarser_grid_matches_scikit_image_resize():
    from skimage.transform import resize

    y, x = np.mgrid[:512, :512]
    hu = (400 * np.sin(x / 23.0) * np.cos(y / 31.0) + 50)[None]  # smooth: boundary modes do not matter inside
    field = lodopab_field(hu, Geometry.parallel(image_size=128))[0]
    reference = resize(hu[0, 75:-75, 75:-75], (128, 128), order=1, anti_aliasing=True)
    np.testing.assert_allclose(field[8:-8, 8:-8], reference[8:-8, 8:-8], atol=2.0)  # HU, of +-450


def test_every_shipped_ct_slice_gives_five_crops_upright_and_normalised():
    assert [name for name, _ in installed_slices()] == list(ANATOMY_SLICES), \
        "pydicom, pydicom-data and pylibjpeg-libjpeg (dependencies) provide every slice"
    images, labels = anatomy_images(SMALL)
    assert images.shape == (len(ANATOMY_SLICES) * len(CROP_SHIFTS), 48, 48) and images.dtype == np.float32
    assert labels[0] == "CT_small.dcm (centre)" and labels[-1] == "bad_sequence.dcm (top)"
    assert 0 <= images.min() and images.max() <= 1 and not images.flags.writeable
    path = dict(installed_slices())["bad_sequence.dcm"]  # JPEG lossless, decoded by pylibjpeg
    hu, _ = read_hu(path)
    np.testing.assert_allclose(images[-5], hu_to_normalized(lodopab_field(hu, SMALL)[0]), rtol=1e-6)
    assert len({image.tobytes() for image in images}) == len(images), "shifted crops show other parts"
    # body fills the field: most pixels of the central crops are tissue, not air
    centres = images[[i for i, label in enumerate(labels) if label.endswith("(centre)")]]
    assert np.mean(centres > hu_to_normalized(-900.0)) > 0.6


def test_physical_size_resampling_stays_an_option():
    images, labels = anatomy_images(SMALL, fit="resample")
    assert labels == ANATOMY_SLICES and images.shape == (len(ANATOMY_SLICES), 48, 48)
    ct_small = images[0]  # 8.5 cm across in a 26 cm field: mostly air around it
    assert np.mean(ct_small > hu_to_normalized(-900.0)) < 0.2
    with pytest.raises(ValueError, match="fit: expected 'lodopab' or 'resample'"):
        anatomy_images(SMALL, fit="crop")
