"""Ensemble members trained as Ray tasks, on this machine or a Ray cluster.

Each member not yet done is one task: the worker trains it with `loop.train` into a scratch
folder, with the very config `digitnet train` would build for it (cli.member_config, passed in),
and sends the finished run back as a tar (without checkpoints/). With a shared folder (every node
mounts it at the same path) the member trains in SHARED/<ensemble name>/member-XX instead, so a
retried task resumes from the last checkpoint there (`loop.resume`) rather than starting over.
The driver unpacks the run into a staging folder inside the ensemble and publishes it as
DIR/member-XX in one rename, so the result is an ordinary ensemble directory and a rerun skips
what is done.

Before anything starts: an ADDRESS must answer (connecting is bounded, not Ray's minutes of
retries), and some node of the cluster must have the CPUs and GPUs one task asks for (else the task
would wait forever). A local cluster started here ends with the driver, even on kill -9: Ray's own
processes mostly do, but its agents outlive a killed driver for minutes, so a small guard process
(told by the kernel when the driver dies, see shutdown.die_with_parent) ends whatever the driver
started.

Ray is optional (`pip install 'digitnet[cluster]'`) and imported only when called.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from digitnet.errors import DigitnetError, first_line
from digitnet.layout import CONFIG_FILE
from digitnet.reading.ensemble_dir import Manifest, Member, member_state
from digitnet.training.config import TrainConfig
from digitnet.training.runs import CHECKPOINT_DIR
from digitnet.util.fileio import publish_directory

LOCAL = "local"  # start a Ray cluster on this machine for the command
MAX_RETRIES = 2  # a task whose worker dies (node lost, killed) is run again this many times
_LEFT_BEHIND = {CHECKPOINT_DIR, ".lock"}  # not sent back: resuming is the worker's business
# Tests only: a folder where a test arms a member (an empty file <member>.armed); that member's first
# task to finish an epoch takes the file, writes its PID to <member>.pid and waits to be killed.
KILL_HOOK_ENV = "DIGITNET_TEST_KILL_DIR"
CONNECT_TIMEOUT_S = 10.0  # an ADDRESS that does not answer within this is refused
DEFAULT_PORTS = {"ray": 10001, "": 6379}  # Ray Client's port, and a head node's GCS port
GUARD_PERIOD_S = 1.0  # how often the guard notes the driver's descendants
_guard: subprocess.Popen | None = None  # the guard of the local cluster this process started


class ClusterError(DigitnetError):
    """Ray missing or unreachable, or a member that failed on it; the message says what to do."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise ClusterError(
            "Ray is not installed; install it with `pip install 'digitnet[cluster]'`"
        ) from None
    return ray


# ---------------------------------------------------------------- on the worker


def run_to_bytes(run_dir: Path) -> bytes:
    """The run directory as an uncompressed tar (the weights hardly compress), checkpoints left out."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for item in sorted(Path(run_dir).iterdir()):
            if item.name not in _LEFT_BEHIND:
                archive.add(item, arcname=item.name)
    return buffer.getvalue()


def wait_to_be_killed_if_armed(name: str, seconds: float = 60) -> None:
    """The test hook (KILL_HOOK_ENV): does nothing unless a test armed this member, and then once."""
    folder = os.environ.get(KILL_HOOK_ENV)
    if not folder:
        return
    try:
        os.rename(Path(folder) / f"{name}.armed", Path(folder) / f"{name}.taken")  # one task wins
    except FileNotFoundError:
        return
    temporary = Path(folder) / f".{name}.pid.tmp"
    temporary.write_text(str(os.getpid()))
    os.replace(temporary, Path(folder) / f"{name}.pid")
    time.sleep(seconds)


def train_member_task(
    name: str, config: TrainConfig, data, data_dir: str | None, run_dir: str | None = None
) -> tuple[bytes, list[str]]:
    """What a Ray worker runs: train one member in run_dir (a shared folder: resumed if a run is
    there) or a scratch folder (None); return the run as tar bytes and the trainer's notes."""
    from digitnet.data.mnist import load_mnist

    if data is None:
        data = load_mnist(data_dir)
    if run_dir is not None:
        notes = _train_or_resume(name, config, data, Path(run_dir))
        return run_to_bytes(Path(run_dir)), notes
    scratch = Path(tempfile.mkdtemp(prefix="digitnet-member-"))
    try:
        notes = _train_or_resume(name, config, data, scratch / "run")
        return run_to_bytes(scratch / "run"), notes
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _train_or_resume(name: str, config: TrainConfig, data, run_dir: Path) -> list[str]:
    """A run already started in run_dir continues from its checkpoint; otherwise a new one starts."""
    from digitnet.training import loop

    notes: list[str] = []
    on_epoch = lambda _row: wait_to_be_killed_if_armed(name)  # noqa: E731
    if (run_dir / CONFIG_FILE).is_file():
        loop.resume(run_dir, data, on_epoch=on_epoch, on_note=notes.append)
    else:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        loop.train(config, run_dir, data, on_epoch=on_epoch, on_note=notes.append)
    return notes


# ---------------------------------------------------------------- on the driver


def publish_member(directory: Path, member: Member, payload: bytes) -> Path:
    """Unpack a member's run into a staging folder beside it, then rename it into place."""
    directory = Path(directory)
    staging = directory / f".{member.name}-staging-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()  # not mkdtemp: the member folder gets the usual permissions (umask)
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r") as archive:
            archive.extractall(staging, filter="data")
        publish_directory(staging, directory / member.name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory / member.name


def connect(ray, address: str) -> bool:
    """Join Ray (a running session, a local cluster or ADDRESS); True if we started it here.

    ADDRESS is tried first with a plain connection (CONNECT_TIMEOUT_S): ClusterError at once when
    nothing answers there. A local cluster gets a guard that ends it if this process is killed.
    """
    if ray.is_initialized():
        return False
    source_root = str(Path(__file__).resolve().parents[2])
    paths = [source_root, *filter(None, [os.environ.get("PYTHONPATH")])]
    env_vars = {"PYTHONPATH": os.pathsep.join(paths), "TF_CPP_MIN_LOG_LEVEL": "2"}
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address == LOCAL:
            ray.init(**quiet, include_dashboard=False, runtime_env={"env_vars": env_vars})
            start_guard()
        else:
            check_reachable(address)
            ray.init(**quiet, address=address)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ClusterError(
            f"cannot reach a Ray cluster at {address} ({first_line(error)}); "
            "start one with `ray start --head`, or pass --ray local"
        ) from None
    return True


def disconnect(ray) -> None:
    """Leave the Ray session this process started (ending a local cluster), and stop its guard."""
    global _guard
    try:
        ray.shutdown()
    finally:
        if _guard is not None:
            _guard.terminate()  # it ends what is left of the cluster, then itself
            try:
                _guard.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _guard.kill()
            _guard = None


def host_and_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a Ray ADDRESS (host:port or ray://host[:port]); None for "auto"."""
    scheme, _, rest = address.rpartition("://")
    if address == "auto" or scheme not in DEFAULT_PORTS:
        return None
    try:
        parts = urlsplit(f"//{rest}")
        host, port = parts.hostname, parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise ClusterError(f"--ray {address!r} is not host:port or ray://host:port") from None
    if not host:
        raise ClusterError(f"--ray {address!r} names no host; write host:port or ray://host:port")
    return host, port


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """ClusterError (one line) unless something accepts a connection at ADDRESS within `timeout` s."""
    target = host_and_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            pass
    except OSError as error:
        reason = "no answer" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise ClusterError(
            f"nothing answers at {address} ({reason} within {timeout:g} s); start the cluster there "
            "with `ray start --head`, check the address, or pass --ray local"
        ) from None


def check_resources(ray, cpus: float, gpus: float, asked: str) -> None:
    """ClusterError unless some live node of the joined cluster has `cpus` CPUs and `gpus` GPUs:
    a task no node can hold would wait forever. asked: the options that asked, as the user wrote them."""
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    if any(node.get("CPU", 0) >= cpus and node.get("GPU", 0) >= gpus for node in nodes):
        return
    most_cpus = max((node.get("CPU", 0) for node in nodes), default=0)
    most_gpus = max((node.get("GPU", 0) for node in nodes), default=0)
    raise ClusterError(
        f"{asked}: no node of the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs "
        f"(the most on one node: {most_cpus:g} CPUs, {most_gpus:g} GPUs), so the work would wait "
        f"forever; ask for at most that"
    )


# ---------------------------------------------------------------- the guard of a local cluster


def start_guard() -> None:
    """Start the guard (see the module doc) from this, the main, thread; nothing off Linux."""
    global _guard
    from digitnet.util.shutdown import die_with_parent

    preexec = die_with_parent()
    if preexec is None or _guard is not None:
        return
    code = "import sys; from digitnet.jobs.cluster import guard; guard(int(sys.argv[1]))"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[1]), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    _guard = subprocess.Popen(
        [sys.executable, "-c", code, str(os.getpid())],
        preexec_fn=preexec,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl+C at the terminal reaches the driver, which stops it
    )


class _Stop(Exception):
    pass


def guard(driver: int, period: float = GUARD_PERIOD_S) -> None:
    """The guard's loop: note the driver's descendants every `period` s until SIGTERM (the driver
    died, or stopped it), then end every one still running (the same process: same start time)."""

    def stop(_signum, _frame):
        raise _Stop

    signal.signal(signal.SIGTERM, stop)
    seen: dict[int, str] = {}
    try:
        while os.getppid() == driver:
            seen.update(descendants(driver, exclude=os.getpid()))
            time.sleep(period)
    except _Stop:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    end_processes(seen)


def _proc_stat(pid: int) -> tuple[int, str] | None:
    """(parent PID, start time) from /proc/PID/stat, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "(name) ": state, ppid, ...
    return int(fields[1]), fields[19]


def descendants(root: int, exclude: int = -1) -> dict[int, str]:
    """{PID: start time} of every process below `root` (read from /proc)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != exclude:
            stat = _proc_stat(int(entry))
            if stat is not None:
                children.setdefault(stat[0], []).append((int(entry), stat[1]))
    found, todo = {}, [root]
    while todo:
        for pid, started in children.get(todo.pop(), []):
            found[pid] = started
            todo.append(pid)
    return found


def end_processes(processes: dict[int, str], grace_s: float = 3.0) -> None:
    """SIGTERM each process still running (same PID and start time), then SIGKILL what remains."""

    def alive() -> list[int]:
        return [pid for pid, started in processes.items() if (_proc_stat(pid) or (0, ""))[1] == started]

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in alive():
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + grace_s
        while alive() and time.monotonic() < deadline:
            time.sleep(0.1)


def train_members_on_ray(
    directory: Path,
    manifest: Manifest,
    address: str = LOCAL,
    cpus_per_member: float = 1,
    gpus_per_member: float = 0,
    *,
    member_config: Callable[[Member, tuple[str, ...]], TrainConfig],
    data=None,
    data_dir: Path | None = None,
    shared_dir: Path | None = None,
    report: Callable[[str], None] = lambda _line: None,
) -> list[str]:
    """Train every member not yet done as a Ray task; returns the names of members whose task was
    lost (worker or node died past its retries). A member failing for a reason the user can fix
    (bad config, no data on the worker) raises ClusterError naming it; finished members are kept.

    member_config: (member, the manifest's train flags) -> its validated TrainConfig; the CLI's
    cli.member_config, so a member has the weights `digitnet train` would give it.
    data: a Mnist to send to the workers (tests); by default each worker loads MNIST itself,
    from data_dir if given (a folder every worker can read).
    shared_dir: a folder every node mounts at the same path; members train in
    shared_dir/<ensemble name>/member-XX (resuming what is there), removed once published.
    """
    directory = Path(directory)
    pending = [member for member in manifest.members if member_state(directory, member) != "done"]
    for member in manifest.members:
        if member not in pending:
            report(f"{member.name}: already trained")
    configs = {member.name: member_config(member, manifest.train_args) for member in pending}
    if not pending:
        return []
    ray = import_ray()
    started_here = connect(ray, address)
    try:
        asked = f"--cpus-per-member {cpus_per_member:g} --gpus-per-member {gpus_per_member:g}"
        check_resources(ray, cpus_per_member, gpus_per_member, asked)
        task = ray.remote(num_cpus=cpus_per_member, num_gpus=gpus_per_member, max_retries=MAX_RETRIES)(
            train_member_task
        )
        data_ref = ray.put(data) if data is not None else None
        folder = str(data_dir) if data_dir is not None else None
        shared = shared_runs(directory, shared_dir)
        refs = {}
        for member in pending:
            run_dir = str(shared / member.name) if shared is not None else None
            refs[task.remote(member.name, configs[member.name], data_ref, folder, run_dir)] = member
            report(f"{member.name}: queued on Ray ({member.arch}, seed {member.seed})")
        return _collect(ray, refs, directory, shared, report)
    finally:
        if started_here:
            disconnect(ray)


def shared_runs(directory: Path, shared_dir: Path | None) -> Path | None:
    """Where this ensemble's members train on shared storage: SHARED/<ensemble name> (absolute)."""
    if shared_dir is None:
        return None
    return Path(shared_dir).resolve() / Path(directory).resolve().name


def _collect(
    ray, refs: dict, directory: Path, shared: Path | None, report: Callable[[str], None]
) -> list[str]:
    """Publish each member as its task finishes; raise the first user-fixable failure at the end."""
    lost, user_errors = [], []
    waiting = list(refs)
    while waiting:
        done, waiting = ray.wait(waiting, num_returns=1)
        member = refs[done[0]]
        try:
            payload, notes = ray.get(done[0])
        except ray.exceptions.RayTaskError as error:
            cause = getattr(error, "cause", None)
            if isinstance(cause, DigitnetError):
                user_errors.append(f"{member.name} failed: {first_line(cause)}")
                report(user_errors[-1])
                continue
            lost.append(member.name)
            report(f"{member.name}: failed ({first_line(cause or error)})")
            continue
        except ray.exceptions.RayError as error:
            lost.append(member.name)
            report(f"{member.name}: lost ({first_line(error)})")
            continue
        for note in notes:
            report(f"{member.name}: {note}")
        publish_member(directory, member, payload)
        if shared is not None:  # published: the shared copy (with its checkpoints) is not needed
            shutil.rmtree(shared / member.name, ignore_errors=True)
        report(f"{member.name}: done")
    if user_errors:
        raise ClusterError(user_errors[0])
    return lost
