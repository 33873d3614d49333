"""One trainer per run directory: an exclusive lock on RUN/.lock, which holds the holder's PID.

The lock is flock(2) on an open file, so the kernel drops it when the holder's process ends,
however it ends: a trainer killed with kill -9 never leaves a stale lock behind, and the file
itself may stay (it is only the lock's handle, never removed, so no second process can lock a
fresh file while the first still holds the old one). Locks of this kind belong to the open file,
so even a second acquire in the same process is refused.

Unix only (fcntl); where fcntl is missing the lock is a no-op.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from digitnet.errors import DigitnetError

LOCK_FILE = ".lock"


class RunLockError(DigitnetError):
    """A run directory another process is training, or one that cannot be locked."""


def lock_holder(run_dir: Path) -> int | None:
    """The PID written in RUN/.lock, or None if there is none (the lock may still be free)."""
    try:
        return int((Path(run_dir) / LOCK_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def acquire_run_lock(
    run_dir: Path, busy_message: Callable[[Path, int | None], str] | None = None
) -> int | None:
    """Lock `run_dir` for this process; returns the lock's file descriptor (None without fcntl).

    Raises RunLockError, naming the holder's PID, when another process holds it: the message is
    busy_message(run_dir, pid) (by default a trainer's, which says how to resume).
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks of this kind
        return None
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # never truncated before the lock is ours
    except OSError as error:
        raise RunLockError(
            f"cannot create the lock file {path}: {error.strerror}; check that {run_dir} is a writable folder"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunLockError((busy_message or _busy_message)(run_dir, lock_holder(run_dir))) from None
    except OSError as error:
        os.close(fd)
        raise RunLockError(f"cannot lock {path}: {error.strerror}; keep runs on a local disk") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def release_run_lock(fd: int | None) -> None:
    """Closing the descriptor drops the lock. The file and its PID stay: lock_holder's answer means
    something only while the lock is held."""
    if fd is not None:
        os.close(fd)


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the lock on `run_dir` for the block (RunLockError at once if another process holds it)."""
    fd = acquire_run_lock(run_dir)
    try:
        yield
    finally:
        release_run_lock(fd)


def _busy_message(run_dir: Path, pid: int | None) -> str:
    holder = f"PID {pid}" if pid is not None else "a process whose PID is not yet written"
    stop = f" (kill {pid})" if pid is not None else ""
    return (
        f"{run_dir} is being trained by another process ({holder}); wait for it to finish or "
        f"stop it{stop}, then continue with `digitnet train --resume {run_dir}`"
    )
