"""How processes end: SIGTERM as Ctrl+C, members that die with their parent, a server that drains."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from digitnet.jobs import ensemble
from digitnet.serve.server import GRACEFUL_SHUTDOWN_S

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC}


def _run_script(script: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
    )


def test_sigterm_raises_keyboard_interrupt_inside_the_block_only():
    done = _run_script("""
        import os, signal, time
        from digitnet.util.shutdown import sigterm_as_keyboard_interrupt
        before = signal.getsignal(signal.SIGTERM)
        try:
            with sigterm_as_keyboard_interrupt():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(10)
            print("not interrupted")
        except KeyboardInterrupt:
            print("interrupted", signal.getsignal(signal.SIGTERM) is before)
    """)
    assert done.stdout.strip() == "interrupted True", done.stderr[-2000:]


def _alive(pid: int) -> bool:
    """Running, not a zombie left for a parent (or a container's init) to reap."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


PARENT_SCRIPT = """
    import subprocess, sys, time
    from digitnet.util.shutdown import die_with_parent
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    child = subprocess.Popen(sleeper, preexec_fn=die_with_parent())
    print(child.pid, flush=True)
    time.sleep(60)
"""


def test_a_member_dies_when_its_parent_is_killed_with_sigkill():
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PARENT_SCRIPT)], stdout=subprocess.PIPE, text=True, env=ENV
    )
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(child):
        os.kill(child, signal.SIGKILL)
        raise AssertionError(f"the child {child} outlived its parent by 5 s")


def test_ensemble_members_are_started_to_die_with_the_coordinator(tmp_path, monkeypatch):
    started = {}

    def fake_popen(command, **options):
        started.update(options)

    monkeypatch.setattr(ensemble.subprocess, "Popen", fake_popen)
    ensemble._start_member(["train"], tmp_path / "member.log", {})[1].close()
    assert callable(started["preexec_fn"])


# ---------------------------------------------------------------- the server


def _start_server(model_dir: Path) -> tuple[subprocess.Popen, str, list[str]]:
    """`digitnet serve` on a free port; returns the process, its URL and its log (still filling)."""
    command = [sys.executable, "-m", "digitnet", "serve", str(model_dir), "--port", "0"]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=ENV)
    log: list[str] = []
    for line in server.stderr:
        log.append(line)
        found = re.search(r"serving .* on (http://\S+)", line)
        if found:
            threading.Thread(target=lambda: log.extend(server.stderr), daemon=True).start()
            return server, found.group(1), log
    raise AssertionError("the server did not start:\n" + "".join(log)[-3000:])


def _slow_predict(url: str, seconds: float, answers: dict, key: str) -> threading.Thread:
    """A valid 128-image request whose body takes `seconds` to arrive: in flight all that time."""
    body = json.dumps({"instances": np.zeros((128, 28, 28)).round(1).tolist()}).encode()
    step = len(body) // 10 + 1

    def chunks():
        for start in range(0, len(body), step):
            yield body[start : start + step]
            time.sleep(seconds / 10)

    def call():
        try:
            answers[key] = httpx.post(f"{url}/v1/models/digitnet:predict", content=chunks(), timeout=60)
        except httpx.HTTPError as error:
            answers[key] = error

    thread = threading.Thread(target=call)
    thread.start()
    return thread


def test_sigterm_drains_requests_in_flight_then_answers_503_and_exits_0(tiny_model_dir):
    server, url, log = _start_server(tiny_model_dir)
    answers: dict = {}
    try:
        clients = [
            _slow_predict(url, 1.5, answers, "within the grace period"),
            _slow_predict(url, GRACEFUL_SHUTDOWN_S + 5, answers, "past it"),
        ]
        time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        server.wait(timeout=GRACEFUL_SHUTDOWN_S + 20)
        stopped_after = time.monotonic() - signalled
        for client in clients:
            client.join(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    time.sleep(0.2)  # the reader thread takes the last lines
    output = "".join(log)
    assert server.returncode == 0, output[-3000:]
    assert stopped_after < GRACEFUL_SHUTDOWN_S + 5, output[-3000:]
    finished = answers["within the grace period"]
    assert isinstance(finished, httpx.Response) and finished.status_code == 200, finished
    assert len(finished.json()["predictions"]) == 128
    refused = answers["past it"]
    assert isinstance(refused, httpx.Response) and refused.status_code == 503, refused
    assert "shutting down" in refused.json()["error"]
    assert "Traceback" not in output and " 500 " not in output
