"""recon's paired HDF5 format: atomic writing, self-description and validation."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from recon import Geometry
from recon.data.datasets import PairedDataset
from recon.data.hdf5 import PairedWriter, inspect_paired, write_paired

GEOMETRY = Geometry.parallel(image_size=(9, 7), num_angles=5, num_detectors=11)


def pairs(n: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 9, 7), dtype=np.float32), rng.random((n, 5, 11), dtype=np.float32)


def write(path, n: int = 4, **kwargs):
    images, sinograms = pairs(n)
    return write_paired(path, images, sinograms, geometry=GEOMETRY, physics={"photons": 4096}, **kwargs)


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_round_trip_describes_itself(tmp_path, compression):
    images, sinograms = pairs()
    path = write(tmp_path / "train.h5", compression=compression)
    with h5py.File(path) as h5:
        np.testing.assert_array_equal(h5["images"][...], images)
        np.testing.assert_array_equal(h5["sinograms"][...], sinograms)
        assert h5["images"].chunks == (1, 9, 7) and h5["sinograms"].chunks == (1, 5, 11)
        assert h5["images"].dtype == np.float32 and h5["images"].compression == compression
        assert Geometry.from_json(h5.attrs["geometry"]) == GEOMETRY
        assert json.loads(h5.attrs["physics"]) == {"photons": 4096}
        assert h5.attrs["format"] == "recon-paired" and h5.attrs["recon_version"]
    info = inspect_paired(path)
    assert (info.num_samples, info.geometry, info.physics) == (4, GEOMETRY, {"photons": 4096})
    assert [p.name for p in tmp_path.iterdir()] == ["train.h5"]


def test_same_content_same_bytes(tmp_path):
    assert write(tmp_path / "a.h5").read_bytes() == write(tmp_path / "b.h5").read_bytes()


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_write_leaves_no_file(tmp_path, interrupt):
    images, sinograms = pairs()
    with pytest.raises(interrupt):
        with PairedWriter(tmp_path / "x.h5", num_samples=4, geometry=GEOMETRY, physics={}) as writer:
            writer.write(0, images[:2], sinograms[:2])
            raise interrupt
    assert not list(tmp_path.iterdir())


def test_an_incomplete_write_is_an_error_and_leaves_no_file(tmp_path):
    images, sinograms = pairs()
    with pytest.raises(ValueError, match="2 of 4 samples were never written"):
        with PairedWriter(tmp_path / "x.h5", num_samples=4, geometry=GEOMETRY, physics={}) as writer:
            writer.write(1, images[:2], sinograms[:2])
    assert not list(tmp_path.iterdir())


def test_writer_checks_shapes_and_refuses_to_overwrite(tmp_path):
    images, sinograms = pairs()
    with pytest.raises(ValueError, match=r"sinograms: expected shape \(b, 5, 11\)"):
        write_paired(tmp_path / "x.h5", images, sinograms[:, :4], geometry=GEOMETRY, physics={})
    assert not list(tmp_path.iterdir())
    path = write(tmp_path / "x.h5")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="x.h5"):
        write(path, n=2)
    assert path.read_bytes() == before
    write(path, n=2, overwrite=True)
    assert inspect_paired(path).num_samples == 2


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.h5"):
        PairedDataset(tmp_path / "nothere.h5")


def test_truncated_file(tmp_path):
    path = write(tmp_path / "x.h5")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"x\.h5: not a readable HDF5 file"):
        PairedDataset(path)


def test_file_that_is_not_hdf5(tmp_path):
    path = tmp_path / "x.h5"
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ValueError, match=r"x\.h5: not a readable HDF5 file"):
        PairedDataset(path)


def test_corrupt_sample_raises_on_read(tmp_path):
    path = write(tmp_path / "x.h5")
    images, _ = pairs()
    data = bytearray(path.read_bytes())
    offset = data.find(images[2].tobytes()[:64])
    assert offset > 0
    data[offset + 8: offset + 16] = b"\xff" * 8
    path.write_bytes(bytes(data))
    dataset = PairedDataset(path)
    dataset[1]
    with pytest.raises(ValueError, match=r"x\.h5: cannot read sample 2 of 'images'"):
        dataset[2]


def test_missing_dataset(tmp_path):
    path = write(tmp_path / "x.h5")
    with h5py.File(path, "a") as h5:
        del h5["sinograms"]
    with pytest.raises(ValueError, match=r"x\.h5: missing dataset 'sinograms'"):
        PairedDataset(path)


def replace_images(path, images: np.ndarray) -> None:
    with h5py.File(path, "a") as h5:
        del h5["images"]
        h5["images"] = images


def test_images_and_sinograms_of_different_n(tmp_path):
    path = write(tmp_path / "x.h5")
    replace_images(path, np.zeros((3, 9, 7), np.float32))
    with pytest.raises(ValueError, match=r"x\.h5: 3 images but 4 sinograms"):
        PairedDataset(path)


def test_sinograms_not_matching_the_geometry(tmp_path):
    path = write(tmp_path / "x.h5")
    with h5py.File(path, "a") as h5:
        h5.attrs["geometry"] = GEOMETRY.angle_subset(2).to_json()
    with pytest.raises(ValueError, match=r"x\.h5: dataset 'sinograms': expected shape \(N, 3, 11\).*\(4, 5, 11\)"):
        PairedDataset(path)


def test_missing_geometry_attribute(tmp_path):
    path = write(tmp_path / "x.h5")
    with h5py.File(path, "a") as h5:
        del h5.attrs["geometry"]
    with pytest.raises(ValueError, match=r"x\.h5: missing attribute 'geometry'"):
        PairedDataset(path)


def test_wrong_dtype(tmp_path):
    path = write(tmp_path / "x.h5")
    replace_images(path, np.zeros((4, 9, 7), np.float64))
    with pytest.raises(ValueError, match="expected float32"):
        PairedDataset(path)


def test_group_labels_round_trip_and_are_optional(tmp_path):
    labels = ("lung", "liver", "lung", "héad")
    path = write(tmp_path / "x.h5", groups=labels)
    assert inspect_paired(path).groups == labels and PairedDataset(path).groups == labels
    assert PairedDataset(write(tmp_path / "plain.h5")).groups is None
    assert write(tmp_path / "y.h5", groups=labels).read_bytes() == path.read_bytes()


def test_bad_group_labels_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"one label per sample \(4\), got 3"):
        write(tmp_path / "x.h5", groups=["a", "b", "c"])
    with pytest.raises(TypeError, match="sequence of str"):
        write(tmp_path / "x.h5", groups=[1, 2, 3, 4])
    assert not list(tmp_path.iterdir())
    path = write(tmp_path / "x.h5", groups=list("abcd"))
    with h5py.File(path, "a") as h5:
        del h5["groups"]
        h5.create_dataset("groups", data=["a", "b"], dtype=h5py.string_dtype())
    with pytest.raises(ValueError, match=r"x\.h5: dataset 'groups': expected shape \(4,\).*got \(2,\)"):
        PairedDataset(path)
