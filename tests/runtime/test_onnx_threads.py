"""How many onnxruntime threads a served model gets: a container's CPU limit counts."""

import pytest

from ticket_classifier.runtime.onnx_threads import cgroup_cpu_limit, intra_op_threads, spinning_entries


@pytest.mark.parametrize(
    "content, cores",
    [
        ("200000 100000\n", 2),  # a Kubernetes limit of cpu: "2"
        ("150000 100000\n", 2),  # 1.5 cores: rounded up
        ("50000 100000\n", 1),
        ("max 100000\n", None),  # no quota
        ("", None),
        ("garbage", None),
        ("100000 0", None),
    ],
)
def test_the_cgroup_quota_in_whole_cores(tmp_path, content, cores):
    path = tmp_path / "cpu.max"
    path.write_text(content)
    assert cgroup_cpu_limit(path) == cores


def test_no_cgroup_file_means_no_limit(tmp_path):
    assert cgroup_cpu_limit(tmp_path / "missing") is None


@pytest.mark.parametrize(
    "configured, instances, cores, threads",
    [(0, 1, 2, 2), (0, 2, 2, 1), (0, 3, 2, 1), (3, 2, 2, 3), (-1, 2, 2, 2), (-1, 2, 4, 4)],
)
def test_threads_are_the_instance_share_or_every_core_unless_configured(configured, instances, cores, threads):
    assert intra_op_threads(configured, instances, cores) == threads


def test_spinning_lasts_only_while_a_run_does():
    assert spinning_entries(True) == {
        "session.intra_op.allow_spinning": "1",
        "session.inter_op.allow_spinning": "1",
        "session.force_spinning_stop": "1",
    }
    assert set(spinning_entries(False).values()) == {"0"}
