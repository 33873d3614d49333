"""What every command shares: one-line user errors, the parser class, checks of paths and numbers,
loading MNIST with progress, TensorFlow imported quietly."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from digitnet.errors import DigitnetError

EXIT_USER_ERROR = 2


EXIT_INTERRUPTED = 130


class UserError(DigitnetError):
    """A mistake in the command line itself; shown as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + error
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def require_positive(value: int, flag: str) -> None:
    if value <= 0:
        raise UserError(f"{flag} must be a positive whole number, got {value}")


def require_non_negative(value: float, flag: str) -> None:
    if not value >= 0:
        raise UserError(f"{flag} must be 0 or more, got {value}")


def require_writable_folder(folder: Path, flag: str) -> None:
    """FOLDER exists (made if need be) and takes a new file: checked before any long work."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise UserError(
            f"{flag} {folder}: cannot write there ({reason}); pass a folder you can write to"
        ) from None


def require_writable_file(path: Path, flag: str) -> None:
    if path.is_dir():
        raise UserError(f"{flag} {path} is a folder; pass a file name")
    require_writable_folder(path.parent, flag)


TRAIN_EXTRA = "pip install 'digitnet[train]'"
TRAINING_MODULES = ("tensorflow", "keras")


def require_training_extra(what: str) -> None:
    """UserError naming the exact install unless TensorFlow and Keras can be imported."""
    import importlib.util

    missing = [name for name in TRAINING_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(
            f"{what} needs the training extra ({', '.join(missing)} not installed); "
            f"install it with: {TRAIN_EXTRA}"
        )


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up chatter (CUDA probing, CPU features) hidden.

    That chatter is written to file descriptor 2 before any log setting applies, so the
    descriptor itself is pointed at /dev/null for the import; a failing import still raises.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe happens here, not at import
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_data(args):
    from digitnet.data.mnist import load_mnist

    return load_mnist(args.data_dir, report=err, progress=DownloadProgress())


class DownloadProgress:
    def __init__(self):
        self._last = 0.0

    def __call__(self, name: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if now - self._last < 0.5 and not finished:
            return
        self._last = now
        size = f"{done / 1e6:.1f}/{total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
        err(f"  {name}: {size}")


class ProgressBar:
    """`[#####.....] 300/1,000 images` on one line of a terminal, redrawn in place.

    Answers printed to the same terminal would run into the bar, so clear() wipes it before they
    are printed and show() draws it again after.
    """

    WIDTH = 30

    def __init__(self, total: int, stream=None, unit: str = "images"):
        self.total, self.unit = total, unit
        self.stream = stream if stream is not None else sys.stderr
        self._drawn = False

    def show(self, done: int) -> None:
        filled = self.WIDTH * done // max(self.total, 1)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r[{bar}] {done:,}/{self.total:,} {self.unit}")
        self.stream.flush()
        self._drawn = True

    def clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\033[K")  # back to the line's start, erase to its end
            self.stream.flush()
            self._drawn = False


PROGRESS_MIN_ITEMS = 200  # shorter jobs end before a bar would help


def progress_bar(total: int, stream=None) -> ProgressBar | None:
    """A ProgressBar when `stream` (stderr) is a terminal and the job is long; never in pipes or logs."""
    stream = stream if stream is not None else sys.stderr
    is_terminal = getattr(stream, "isatty", None)
    if total <= PROGRESS_MIN_ITEMS or not (is_terminal and is_terminal()):
        return None
    return ProgressBar(total, stream)


def add_data_dir(parser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder holding the four MNIST IDX files (raw or .gz); "
        "default: $DIGITNET_DATA_DIR, then the cache, then download",
    )
