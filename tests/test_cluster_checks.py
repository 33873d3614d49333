"""Ray jobs that could never run or never end are refused before anything starts, and a local Ray
cluster ends with its driver: the checks, with a stand-in for Ray (no cluster is started here)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digitnet.jobs import cluster

SOURCE_ROOT = str(Path(cluster.__file__).resolve().parents[1])


class FakeRay:
    """What cluster.connect and check_resources use of Ray; init records its calls."""

    def __init__(self, nodes=()):
        self._nodes = list(nodes)
        self.inits = []

    def is_initialized(self):
        return False

    def init(self, **kwargs):
        self.inits.append(kwargs)

    def nodes(self):
        return self._nodes


def test_addresses_are_parsed_with_rays_default_ports():
    assert cluster.host_and_port("ray://head:10001") == ("head", 10001)
    assert cluster.host_and_port("ray://head") == ("head", 10001)
    assert cluster.host_and_port("10.0.0.5:6380") == ("10.0.0.5", 6380)
    assert cluster.host_and_port("head") == ("head", 6379)
    assert cluster.host_and_port("auto") is None
    with pytest.raises(cluster.ClusterError, match="not host:port"):
        cluster.host_and_port("head:notaport")


def test_an_address_where_nothing_listens_is_refused_at_once_without_starting_ray():
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ray = FakeRay()
    started = time.monotonic()
    with pytest.raises(cluster.ClusterError, match=f"nothing answers at 127.0.0.1:{port}") as caught:
        cluster.connect(ray, f"127.0.0.1:{port}")
    assert time.monotonic() - started < cluster.CONNECT_TIMEOUT_S
    assert ray.inits == [] and "\n" not in str(caught.value)


def test_an_address_that_answers_is_joined():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        ray = FakeRay()
        assert cluster.connect(ray, f"127.0.0.1:{server.getsockname()[1]}") is True
    assert ray.inits and ray.inits[0]["address"].startswith("127.0.0.1:")


NODES = [
    {"Alive": True, "Resources": {"CPU": 2.0}},
    {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}},  # a dead node holds nothing
]


@pytest.mark.parametrize("cpus, gpus", [(64, 0), (1, 1), (2.5, 0)])
def test_resources_no_node_has_are_refused(cpus, gpus):
    with pytest.raises(cluster.ClusterError, match="the most on one node: 2 CPUs, 0 GPUs") as caught:
        cluster.check_resources(FakeRay(NODES), cpus, gpus, "--cpus-per-member 64")
    assert str(caught.value).startswith("--cpus-per-member 64: no node") and "\n" not in str(caught.value)


def test_resources_a_node_has_are_accepted():
    cluster.check_resources(FakeRay(NODES), 2, 0, "--cpus-per-member 2")
    cluster.check_resources(FakeRay(NODES), 0.5, 0, "--cpus-per-member 0.5")


def test_ray_members_asking_too_much_fail_before_any_task(tmp_path, monkeypatch):
    from digitnet.commands.jobs import member_config
    from digitnet.reading import ensemble_dir as er

    manifest = er.Manifest(er.plan_members(1, ["seed"], 0), ("--epochs", "1"))
    er.create_ensemble(tmp_path / "e", manifest)
    fake = FakeRay(NODES)
    fake.is_initialized = lambda: True  # joined already: connect starts nothing
    fake.remote = lambda **_kw: pytest.fail("a task was submitted")
    monkeypatch.setattr(cluster, "import_ray", lambda: fake)
    with pytest.raises(cluster.ClusterError, match="--gpus-per-member 1: no node"):
        cluster.train_members_on_ray(tmp_path / "e", manifest, gpus_per_member=1, member_config=member_config)


DRIVER = """
import subprocess, sys, time
from digitnet.jobs import cluster
cluster.start_guard()
child = subprocess.Popen(["sleep", "300"])  # stands for Ray's processes: not told of the driver's death
print(child.pid, flush=True)
time.sleep(300)
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the guard needs Linux's parent-death signal"
)
def test_a_driver_killed_with_kill_9_takes_what_it_started_with_it():
    env = {**os.environ, "PYTHONPATH": SOURCE_ROOT}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True, env=env)
    child = int(driver.stdout.readline())
    try:
        time.sleep(3 * cluster.GUARD_PERIOD_S)  # the guard has noted the child
        driver.kill()
        driver.wait()
        deadline = time.monotonic() + 15
        while cluster._proc_stat(child) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        stat = cluster._proc_stat(child)
        assert stat is None or Path(f"/proc/{child}/status").read_text().find("State:\tZ") >= 0
    finally:
        if cluster._proc_stat(child) is not None:
            try:
                os.kill(child, signal.SIGKILL)
            except OSError:
                pass
