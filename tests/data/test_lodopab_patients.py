"""LoDoPaB-CT's patient id files: per-sample ids and DIVal's sorted_by_patient order."""

from __future__ import annotations

import numpy as np
import pytest

from recon.data.lodopab import LoDoPaB, write_lodopab
from recon.data.lodopab_patients import patient_file


@pytest.fixture
def root(tmp_path):
    """A small validation part of 6 samples (numbered 0..5 in their images) with its patient id file."""
    rng = np.random.default_rng(0)
    observations = rng.random((6, 10, 9), dtype=np.float32)
    truths = np.arange(6, dtype=np.float32)[:, None, None] * np.ones((6, 8, 8), np.float32)
    write_lodopab(tmp_path, "validation", observations, truths)
    patient_file(tmp_path, "validation").write_text("\n".join(map(str, [12, 10, 12, 11, 10, 12])) + "\n")
    return tmp_path


def test_patient_ids_per_sample_and_dival_order(root):
    plain = LoDoPaB(root, "validation")
    assert plain.patient_ids.tolist() == [12, 10, 12, 11, 10, 12]
    by_patient = LoDoPaB(root, "validation", sorted_by_patient=True)
    # DIVal: np.argsort(ids, kind="stable"), each patient's slices in file order
    order = [int(by_patient[i][1][0, 0, 0]) for i in range(6)]
    assert order == [1, 4, 3, 0, 2, 5]
    assert by_patient.patient_ids.tolist() == [10, 10, 11, 12, 12, 12]
    assert by_patient.source_id() != plain.source_id()


def test_without_the_file_ids_are_none_and_sorting_is_refused(root):
    patient_file(root, "validation").unlink()
    assert LoDoPaB(root, "validation").patient_ids is None
    with pytest.raises(FileNotFoundError, match="patient_ids_rand_validation.csv"):
        LoDoPaB(root, "validation", sorted_by_patient=True)


@pytest.mark.parametrize("text, message", [
    ("12\n10\nx\n", "expected one integer patient id per line, got 'x' on line 3"),
    ("12\n10\n", "expected one patient id per sample (6), got 2"),
    ("1\n2\n3\n4\n5\n6\n7\n", "expected one patient id per sample (6), got 7"),
])
def test_bad_id_files_name_the_file_and_the_problem(root, text, message):
    patient_file(root, "validation").write_text(text)
    with pytest.raises(ValueError, match="patient_ids_rand_validation.csv") as error:
        LoDoPaB(root, "validation")
    assert message in str(error.value)


def test_parts_must_number_their_patients_in_order(root):
    patient_file(root, "train").write_text("0\n5\n")
    LoDoPaB(root, "validation")  # train's ids (0..5) < validation's (10..12)
    patient_file(root, "test").write_text("11\n13\n")  # overlaps validation's 10..12
    with pytest.raises(ValueError, match="train < validation < test"):
        LoDoPaB(root, "validation")


def test_a_partial_folder_uses_the_first_ids(root):
    patient_file(root, "validation").write_text("\n".join(map(str, range(10, 20))) + "\n")
    assert LoDoPaB(root, "validation", allow_partial=True).patient_ids.tolist() == [10, 11, 12, 13, 14, 15]
