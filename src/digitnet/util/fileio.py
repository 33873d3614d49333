"""Writes that never leave a half-written file behind: temp file, fsync, rename."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from digitnet.errors import DigitnetError


class WriteError(DigitnetError, OSError):
    """A file could not be written (disk full, no permission, a file where a folder must be).

    Still an OSError, for callers that catch those; what was there before is left as it was.
    """


def write_error(path: Path, error: OSError) -> WriteError:
    """One line: what could not be written, the system's reason, and what to do."""
    reason = error.strerror or str(error) or type(error).__name__
    return WriteError(f"could not write {path} ({reason}); free some disk space or choose another place")


def cache_dir(name: str) -> Path:
    """$XDG_CACHE_HOME/digitnet/NAME, else ~/.cache/digitnet/NAME: what digitnet can rebuild."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "digitnet" / name


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's content, hex, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_directory(directory: Path) -> None:
    # The rename itself is only durable once the directory entry is on disk. Some platforms
    # (Windows) cannot open a directory; the data is already safe there, so that is no error.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` all at once: readers see the old file or the new, never a part."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise write_error(path, error) from error
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException as error:
        Path(temp_name).unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, WriteError):
            raise write_error(path, error) from error
        raise
    fsync_directory(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def publish_directory(staging: Path, final: Path) -> None:
    """Rename a fully written staging directory into place; its name appearing means complete."""
    for item in staging.iterdir():
        if item.is_file():
            with open(item, "rb") as handle:
                os.fsync(handle.fileno())
    fsync_directory(staging)
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    fsync_directory(final.parent)


def atomic_save_keras(model, path: Path) -> Path:
    """`model.save` to a temp .keras file beside `path` (Keras wants the suffix), then atomic replace."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".keras")
    except OSError as error:
        raise write_error(path, error) from error
    os.close(fd)
    try:
        model.save(temp_name)
        atomic_write_bytes(path, Path(temp_name).read_bytes())
    except OSError as error:
        if isinstance(error, WriteError):
            raise
        raise write_error(path, error) from error
    finally:
        Path(temp_name).unlink(missing_ok=True)
    return path
