"""The fused step's sign that the server is idle: one lock file per instance, tested across processes."""

import multiprocessing
import os

import pytest

from ticket_classifier.runtime.instance_activity import FOLDER_PREFIX, InstanceActivity


def _sibling(folder, started, release):
    """Another instance: busy from ``started`` until ``release``, then gone."""
    activity = InstanceActivity("server-model-1", folder)
    with activity:
        started.set()
        release.wait(30)
    activity.close()


@pytest.fixture
def fork():
    return multiprocessing.get_context("fork")


def test_a_sibling_reads_busy_only_inside_its_execute(tmp_path, fork):
    activity = InstanceActivity("server-model-1", tmp_path)
    assert not activity.others_busy()
    started, release = fork.Event(), fork.Event()
    child = fork.Process(target=_sibling, args=(tmp_path, started, release))
    child.start()
    try:
        assert started.wait(30)
        assert activity.others_busy()
        with activity:  # this instance's own lock is not a sibling's
            assert activity.others_busy()
    finally:
        release.set()
        child.join(30)
    assert child.exitcode == 0
    assert not activity.others_busy()
    assert [path.name for path in activity.folder.iterdir()] == [f"{os.getpid()}.lock"]  # the sibling's file is gone
    activity.close()
    assert not activity.folder.exists()  # the last one out removes the folder


def test_another_model_or_server_is_not_a_sibling(tmp_path, fork):
    activity = InstanceActivity("server-model-1", tmp_path)
    other = InstanceActivity("server-model-2", tmp_path)
    assert activity.folder != other.folder and activity.folder.name.startswith(FOLDER_PREFIX)
    activity.close()
    other.close()


def test_the_file_of_an_instance_that_died_reads_idle(tmp_path):
    activity = InstanceActivity("server-model-1", tmp_path)
    (activity.folder / "999999.lock").write_text("")  # left behind, nobody holds its lock
    assert not activity.others_busy()
    activity.close()
    assert activity.folder.exists()  # the stale file stays; the folder is not removed under it


def test_a_key_cannot_leave_the_folder(tmp_path):
    activity = InstanceActivity("../../etc/x y", tmp_path)
    assert activity.folder.parent == tmp_path and "/" not in activity.folder.name.removeprefix(FOLDER_PREFIX)
    activity.close()


def test_an_unusable_folder_is_an_os_error(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(OSError):
        InstanceActivity("server-model-1", blocked)


def test_a_folder_planted_as_a_link_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / f"{FOLDER_PREFIX}server-model-1").symlink_to(elsewhere)
    with pytest.raises(PermissionError, match="not this user's own folder"):
        InstanceActivity("server-model-1", tmp_path)
    assert not any(elsewhere.iterdir())
