"""Atomic files, orphaned temporary files and locked output folders (:mod:`recon.files`)."""

from __future__ import annotations

import os

import pytest

from recon.files import (
    LOCK_FILE,
    FolderInUseError,
    atomic_folder,
    atomic_path,
    output_folder,
    pid_alive,
    remove_orphans,
)


def test_pid_alive(dead_pid):
    assert pid_alive(os.getpid()) and not pid_alive(dead_pid) and not pid_alive(0)


def test_atomic_path_renames_on_success_and_removes_on_failure(tmp_path):
    with atomic_path(tmp_path / "a.txt") as temporary:
        assert temporary.name == f".a.txt.{os.getpid()}.part"
        temporary.write_text("whole")
    assert (tmp_path / "a.txt").read_text() == "whole"
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "b.txt") as temporary:
        temporary.write_text("half")
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_atomic_folder_renames_on_success_replaces_with_overwrite_and_removes_on_failure(tmp_path):
    with atomic_folder(tmp_path / "series") as temporary:
        assert temporary.name == f".series.{os.getpid()}.part" and list(temporary.iterdir()) == []
        (temporary / "0001.dcm").write_text("one")
    assert [p.name for p in (tmp_path / "series").iterdir()] == ["0001.dcm"]
    with pytest.raises(FileExistsError, match="series: folder exists"), atomic_folder(tmp_path / "series"):
        pass
    with atomic_folder(tmp_path / "series", overwrite=True) as temporary:
        (temporary / "0002.dcm").write_text("two")
    assert [p.name for p in (tmp_path / "series").iterdir()] == ["0002.dcm"]
    with pytest.raises(KeyboardInterrupt), atomic_folder(tmp_path / "series", overwrite=True) as temporary:
        (temporary / "0003.dcm").write_text("half")
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["series"]
    assert [p.name for p in (tmp_path / "series").iterdir()] == ["0002.dcm"]
    with pytest.raises(FileNotFoundError, match="missing: no such folder"), atomic_folder(tmp_path / "missing" / "s"):
        pass


def test_orphaned_folders_are_removed_with_their_contents(tmp_path, dead_pid):
    orphan = tmp_path / f".series.{dead_pid}.part"
    orphan.mkdir()
    (orphan / f".0001.dcm.{dead_pid}.part").write_text("half")
    live = tmp_path / f".other.{os.getpid()}.part"
    live.mkdir()
    assert remove_orphans(tmp_path) == [orphan]
    assert not orphan.exists() and live.is_dir()


def test_orphans_of_dead_processes_are_removed_and_live_ones_kept(tmp_path, dead_pid):
    (tmp_path / "parts").mkdir()
    orphan = tmp_path / "parts" / f".rows.json.{dead_pid}.part"
    live = tmp_path / f".train.h5.{os.getpid()}.part"
    unrelated = tmp_path / "notes.part"
    for path in (orphan, live, unrelated):
        path.write_text("x")
    assert remove_orphans(tmp_path) == [orphan]
    assert live.exists() and unrelated.exists() and not orphan.exists()


def test_output_folder_cleans_orphans_and_says_so(tmp_path, dead_pid, caplog):
    orphan = tmp_path / f".train.h5.{dead_pid}.part"
    orphan.write_bytes(b"\0" * 64)
    with output_folder(tmp_path) as folder:
        assert (folder / LOCK_FILE).read_text().split()[0] == str(os.getpid())
    assert not orphan.exists() and not (tmp_path / LOCK_FILE).exists()
    assert f".train.h5.{dead_pid}.part" in caplog.text and "killed" in caplog.text


def test_output_folder_refuses_a_file_and_removes_what_it_created_on_failure(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"file: expected an output folder, got a file"):
        with output_folder(tmp_path / "file"):
            pass
    with pytest.raises(NotADirectoryError, match=r"expected an output folder, got a path through a file"):
        with output_folder(tmp_path / "file" / "sub"):
            pass
    with pytest.raises(ValueError, match="bad"), output_folder(tmp_path / "new" / "out"):
        raise ValueError("bad")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    with pytest.raises(ValueError), output_folder(tmp_path) as folder:
        (folder / "kept").write_text("x")
        raise ValueError("bad")
    assert (tmp_path / "kept").exists()  # a folder that existed before is left alone


def test_a_folder_in_use_is_refused_naming_its_holder_then_free_again(tmp_path, holder):
    process = holder(tmp_path)
    with pytest.raises(FolderInUseError, match=rf"{tmp_path}: expected an output folder no other run is "
                                               rf"using, got one in use by process {process.pid} on "):
        with output_folder(tmp_path):
            pass
    process.stdin.close()
    process.wait(timeout=30)
    with output_folder(tmp_path):
        pass


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path, holder):
    process = holder(tmp_path)
    process.kill()
    process.wait(timeout=30)
    assert (tmp_path / LOCK_FILE).read_text().split()[0] == str(process.pid)  # left behind by SIGKILL
    with output_folder(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text().split()[0] == str(os.getpid())
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_stale_lock_file_with_a_dead_pid_is_taken_over(tmp_path, dead_pid):
    (tmp_path / LOCK_FILE).write_text(f"{dead_pid} elsewhere\n")
    with output_folder(tmp_path):
        pass


def test_one_process_cannot_use_a_folder_twice_at_once(tmp_path):
    with output_folder(tmp_path), pytest.raises(FolderInUseError, match=f"process {os.getpid()}"):
        with output_folder(tmp_path):
            pass
    with output_folder(tmp_path):
        pass  # released again
