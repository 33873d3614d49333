"""How digitnet's processes end: SIGTERM handled like Ctrl+C, and children that die with their parent.

`digitnet train` saves a checkpoint on Ctrl+C (KeyboardInterrupt); a service manager, `kill`, or an
ensemble coordinator that died sends SIGTERM instead, which by default ends Python at once.
Raising KeyboardInterrupt on SIGTERM gives both the same clean ending.

Ensemble members are separate processes; if the coordinator is killed (even with kill -9) the
kernel sends each member SIGTERM (Linux's PR_SET_PDEATHSIG), so none is left training on its own.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _raise_keyboard_interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_keyboard_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt in the main thread, as Ctrl+C does.

    Also a decorator (`@sigterm_as_keyboard_interrupt()`). Off the main thread, where Python cannot
    set signal handlers, it changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def die_with_parent() -> Callable[[], None] | None:
    """A subprocess preexec_fn that has the kernel send the child SIGTERM when this process dies;
    None where that cannot be done (not Linux), so the child simply outlives its parent there.

    The parent must start its children from a thread that lives as long as it does (the main
    thread): Linux sends the signal when the creating thread ends.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    # Looked up here, in the parent: loading a library between fork and exec could deadlock.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above: nobody would signal
            os.kill(os.getpid(), signal.SIGTERM)

    return set_parent_death_signal
