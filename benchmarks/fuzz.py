"""Fuzzing, bounded and seeded: valid inputs mutated at random, fed to every parser of untrusted bytes.

Targets, and what may come out of each (anything else is a crash):
  idx            data.read_idx_images / read_idx_labels on mutated IDX files (raw or gzipped): DataError
  image          preprocess.image_to_mnist on mutated PNG, JPEG, GIF and BMP files: ImageError
  tf_predict     POST /v1/models/digitnet:predict (TF Serving JSON): any status below 500
  oip_infer      POST /v2/models/digitnet/infer (Open Inference Protocol JSON): any status below 500
  upload         POST /predict (multipart upload): any status below 500
  collect        POST /collect (a corrected example, JSON; also foreign content types and Origins):
                 any status below 500, or 507 (full); a file appears only with a 201
  finetune       finetune.load_examples on an examples folder whose labels.csv (bytes or rows: paths
                 out of the folder, hostile names), one image, or file names are mutated: ExamplesError
The service targets run through FastAPI's TestClient on create_app with the shipped model; a 5xx
or an exception out of the client is a crash. Mutations are byte-level (flips, interesting integers
over header fields, truncation, insertion, deletion, duplication) and, for JSON, structural (a
random node replaced by a hostile value) too.
Prints one JSON object (cases and crashes per target, the first few crashes in full); exits 1 on
any crash.

    PYTHONPATH=src python benchmarks/fuzz.py --cases 2000 --seed 0
"""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from machine import describe_machine  # noqa: E402

INTERESTING_U32 = [0, 1, 2, 27, 28, 29, 255, 256, 2049, 2051, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 60_000]
HOSTILE_JSON = [
    None, True, False, 0, -1, 1e308, -1e308, 2**64, 10**400, 0.5, "", "x" * 300, "NaN", "Infinity",
    [], {}, [[]], [[[[[[[[[[0]]]]]]]]]], {"b64": "!!!"}, {"b64": ""}, [0.5] * 785, [[0.5] * 28] * 29,
]  # fmt: skip
SHOWN_CRASHES = 5  # crashes reported in full per target
UPLOAD_BOUNDARY = "fuzzboundary7MA4YWxk"


# ---------------------------------------------------------------- mutations


def mutate_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    """1-4 random edits of `data`."""
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        out = _EDITS[int(rng.integers(len(_EDITS)))](out, rng)
    return bytes(out)


def _flip(out: bytearray, rng) -> bytearray:
    for _ in range(int(rng.integers(1, 9))):
        if out:
            out[int(rng.integers(len(out)))] ^= 1 << int(rng.integers(8))
    return out


def _interesting_int(out: bytearray, rng) -> bytearray:
    """A header-sized field (one of the first 24 bytes, 4-aligned) set to a boundary value."""
    at = 4 * int(rng.integers(0, 6))
    value = INTERESTING_U32[int(rng.integers(len(INTERESTING_U32)))]
    out[at : at + 4] = value.to_bytes(4, "big")
    return out


def _truncate(out: bytearray, rng) -> bytearray:
    return out[: int(rng.integers(0, len(out) + 1))]


def _insert(out: bytearray, rng) -> bytearray:
    at = int(rng.integers(0, len(out) + 1))
    return out[:at] + bytearray(rng.bytes(int(rng.integers(1, 64)))) + out[at:]


def _delete(out: bytearray, rng) -> bytearray:
    at = int(rng.integers(0, len(out) + 1))
    return out[:at] + out[at + int(rng.integers(1, 64)) :]


def _duplicate(out: bytearray, rng) -> bytearray:
    at = int(rng.integers(0, len(out) + 1))
    return out[:at] + out[at : at + int(rng.integers(1, 256))] * int(rng.integers(2, 8)) + out[at:]


_EDITS = [_flip, _interesting_int, _truncate, _insert, _delete, _duplicate]


def mutate_json(value, rng: np.random.Generator):
    """`value` with one random node (a dict value or list item, at any depth) replaced by a hostile one."""
    if not isinstance(value, (dict, list)) or not value or rng.random() < 0.25:
        return HOSTILE_JSON[int(rng.integers(len(HOSTILE_JSON)))]
    keys = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = keys[int(rng.integers(len(keys)))]
    copy = dict(value) if isinstance(value, dict) else list(value)
    if isinstance(copy, dict) and rng.random() < 0.1:
        del copy[key]
    else:
        copy[key] = mutate_json(value[key], rng)
    return copy


def mutated_json_body(valid: dict, rng: np.random.Generator) -> bytes:
    """Half structural mutations (still JSON), half byte edits of the encoded valid body."""
    if rng.random() < 0.5:
        return json.dumps(mutate_json(valid, rng)).encode()
    return mutate_bytes(json.dumps(valid).encode(), rng)


# ---------------------------------------------------------------- seeds: valid inputs


def digit_pixels(rng: np.random.Generator) -> np.ndarray:
    """A 28x28 uint8 bar digit, ink bright on black, in a random place."""
    pixels = np.zeros((28, 28), np.uint8)
    x = int(rng.integers(6, 18))
    pixels[5:23, x : x + 4] = 255
    return pixels


def image_file(pixels: np.ndarray, fmt: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(255 - pixels).resize((56, 56)).save(buffer, format=fmt)
    return buffer.getvalue()


def idx_files(rng: np.random.Generator) -> list[tuple[str, bytes]]:
    """(kind, bytes) of valid IDX image and label files, raw and gzipped."""
    count = 3
    images = np.stack([digit_pixels(rng) for _ in range(count)])
    image_file_bytes = (2051).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (count, 28, 28))
    image_file_bytes += images.tobytes()
    label_file_bytes = (2049).to_bytes(4, "big") + count.to_bytes(4, "big") + bytes([1, 7, 3])
    raw = [("images", image_file_bytes), ("labels", label_file_bytes)]
    return raw + [(kind, gzip.compress(data, mtime=0)) for kind, data in raw]


# ---------------------------------------------------------------- targets


def fuzz_loop(cases: int, make_case: Callable, try_case: Callable, rng) -> dict:
    """Run `cases` cases; try_case(case) returns None when the outcome is allowed, else what went wrong."""
    crashes, shown, began = 0, [], time.monotonic()
    for _ in range(cases):
        case = make_case(rng)
        problem = try_case(case)
        if problem is not None:
            crashes += 1
            if len(shown) < SHOWN_CRASHES:
                shown.append(problem)
    return {"cases": cases, "crashes": crashes, "seconds": round(time.monotonic() - began, 1), "first": shown}


def fuzz_idx(cases: int, rng, scratch: Path) -> dict:
    from digitnet.data.mnist import DataError, read_idx_images, read_idx_labels

    seeds = idx_files(rng)
    path = scratch / "fuzz.idx"

    def make_case(rng):
        kind, data = seeds[int(rng.integers(len(seeds)))]
        return kind, mutate_bytes(data, rng)

    def try_case(case):
        kind, data = case
        path.write_bytes(data)
        try:
            (read_idx_images if kind == "images" else read_idx_labels)(path)
        except DataError:
            pass
        except Exception as error:  # the finding: anything but DataError
            return {
                "kind": kind,
                "error": f"{type(error).__name__}: {str(error)[:200]}",
                "hex": data[:64].hex(),
            }
        return None

    return fuzz_loop(cases, make_case, try_case, rng)


def fuzz_images(cases: int, rng) -> dict:
    from digitnet.data.preprocess import ImageError, image_to_mnist

    seeds = [(fmt, image_file(digit_pixels(rng), fmt)) for fmt in ("PNG", "JPEG", "GIF", "BMP")]

    def make_case(rng):
        fmt, data = seeds[int(rng.integers(len(seeds)))]
        return fmt, mutate_bytes(data, rng)

    def try_case(case):
        fmt, data = case
        try:
            image_to_mnist(data, name=f"fuzz.{fmt.lower()}")
        except ImageError:
            pass
        except Exception as error:  # the finding: anything but ImageError
            return {
                "format": fmt,
                "error": f"{type(error).__name__}: {str(error)[:200]}",
                "hex": data[:64].hex(),
            }
        return None

    return fuzz_loop(cases, make_case, try_case, rng)


def shown_body(body: bytes) -> str:
    """The start of a request body as text (JSON reads better so than in hex)."""
    text = body[:300].decode("utf-8", "replace")
    return text if len(body) <= 300 else f"{text}... ({len(body):,} bytes)"


def http_try(client, url: str, headers: dict) -> Callable:
    """try_case for a service target: a 5xx or an exception out of the client is a crash."""

    def try_case(body: bytes):
        try:
            answer = client.post(url, content=body, headers=headers)
        except Exception as error:  # the finding: the app raised through its own middleware
            return {"error": f"{type(error).__name__}: {str(error)[:200]}", "body": shown_body(body)}
        if answer.status_code >= 500:
            return {"status": answer.status_code, "answer": answer.text[:200], "body": shown_body(body)}
        return None

    return try_case


def tf_predict_seeds(rng) -> list[dict]:
    pixels = digit_pixels(rng)
    png = base64.b64encode(image_file(pixels, "PNG")).decode()
    rows = (pixels / 255).round(3).tolist()
    return [
        {"instances": [rows]},
        {"signature_name": "serving_default", "instances": [{"b64": png}, rows]},
        {"inputs": {"image": [rows]}},
        {"inputs": [{"b64": png}]},
    ]


def oip_seeds(rng) -> list[dict]:
    flat = (digit_pixels(rng) / 255).round(3).ravel().tolist()
    tensor = {"name": "image", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": flat}
    return [
        {"inputs": [tensor]},
        {"id": "a", "inputs": [tensor], "outputs": [{"name": "probabilities"}], "parameters": {}},
    ]


def multipart_body(data: bytes, name: str = "digit.png", field: str = "file") -> bytes:
    head = (
        f'--{UPLOAD_BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{UPLOAD_BOUNDARY}--\r\n".encode()


def fuzz_service(cases: int, rng) -> dict:
    """The three request parsers of the service, `cases` each."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from digitnet.reading.predict import Predictor
    from digitnet.serve import create_app
    from digitnet.serve.model_info import describe_model

    predictor = Predictor(None)
    app = create_app(predictor, model_info=describe_model(predictor.source), max_body_bytes=256 * 1024)
    as_json = {"content-type": "application/json"}
    upload_seeds = [multipart_body(image_file(digit_pixels(rng), fmt)) for fmt in ("PNG", "JPEG", "GIF")]
    tf_seeds, infer_seeds = tf_predict_seeds(rng), oip_seeds(rng)

    def pick(seeds, rng):
        return seeds[int(rng.integers(len(seeds)))]

    with TestClient(app) as client:
        return {
            "tf_predict": fuzz_loop(
                cases,
                lambda rng: mutated_json_body(pick(tf_seeds, rng), rng),
                http_try(client, "/v1/models/digitnet:predict", as_json),
                rng,
            ),
            "oip_infer": fuzz_loop(
                cases,
                lambda rng: mutated_json_body(pick(infer_seeds, rng), rng),
                http_try(client, "/v2/models/digitnet/infer", as_json),
                rng,
            ),
            "upload": fuzz_loop(
                cases,
                lambda rng: mutate_bytes(pick(upload_seeds, rng), rng),
                http_try(
                    client, "/predict", {"content-type": f"multipart/form-data; boundary={UPLOAD_BOUNDARY}"}
                ),
                rng,
            ),
        }


COLLECT_HEADERS = [
    {"content-type": "application/json"},
    {"content-type": "application/json; charset=utf-8", "origin": "http://127.0.0.1:8000",
     "host": "127.0.0.1:8000"},
    {"content-type": "text/plain"},
    {"content-type": "application/x-www-form-urlencoded"},
    {"content-type": "application/json", "origin": "https://evil.example"},
    {"content-type": "application/json", "origin": "http://evil.example", "host": "evil.example"},
    {},
]  # fmt: skip


def fuzz_collect(cases: int, rng, scratch: Path) -> dict:
    """POST /collect: mutated bodies under assorted content types and Origins."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from digitnet.reading.predict import Predictor
    from digitnet.serve import create_app
    from digitnet.serve.collect import ExampleStore
    from digitnet.serve.model_info import describe_model

    folder = scratch / "collected"
    predictor = Predictor(None)
    app = create_app(
        predictor,
        model_info=describe_model(predictor.source),
        collect=ExampleStore(folder, max_examples=10**6),
    )
    seeds = [
        {"image": (digit_pixels(rng) / 255).round(3).tolist(), "label": int(rng.integers(10))}
        for _ in range(3)
    ]
    seeds.append({"image": (digit_pixels(rng) / 255).round(3).ravel().tolist(), "label": 7})
    statuses: dict[str, int] = {}

    def make_case(rng):
        headers = COLLECT_HEADERS[int(rng.integers(len(COLLECT_HEADERS)))]
        valid = seeds[int(rng.integers(len(seeds)))]
        body = json.dumps(valid).encode() if rng.random() < 0.2 else mutated_json_body(valid, rng)
        return headers, body

    with TestClient(app) as client:

        def try_case(case):
            headers, body = case
            before = len(list(folder.iterdir()))
            try:
                answer = client.post("/collect", content=body, headers=headers)
            except Exception as error:
                return {"error": f"{type(error).__name__}: {str(error)[:200]}", "body": shown_body(body)}
            statuses[str(answer.status_code)] = statuses.get(str(answer.status_code), 0) + 1
            saved = len(list(folder.iterdir())) - before
            if (answer.status_code >= 500 and answer.status_code != 507) or saved != (
                answer.status_code == 201
            ):
                return {
                    "status": answer.status_code,
                    "saved": saved,
                    "headers": headers,
                    "body": shown_body(body),
                }
            return None

        result = fuzz_loop(cases, make_case, try_case, rng)
    return {**result, "statuses": dict(sorted(statuses.items()))}


HOSTILE_NAMES = [
    "../outside_7.png", "/etc/passwd", "..", ".", "", "sub/x_1.png", "x\\..\\y_2.png", "a" * 300 + "_3.png",
    "ünïcode_4.png", "labels.csv", ".hidden_5.png", "nul\x00_6.png", " spaced _7.png",
]  # fmt: skip


def fuzz_finetune(cases: int, rng, scratch: Path) -> dict:
    """finetune.load_examples on a folder of 12 labelled digits, one part of it mutated per case."""
    import shutil

    from digitnet.jobs.finetune import ExamplesError, load_examples

    valid = scratch / "valid-examples"
    valid.mkdir()
    names = []
    for index in range(12):
        name = f"ex{index:02d}_{index % 10}.png"
        (valid / name).write_bytes(image_file(digit_pixels(rng), "PNG"))
        names.append(name)
    csv_text = "file,label\n" + "".join(f"{name},{index % 10}\n" for index, name in enumerate(names))
    kinds = ("csv_bytes", "csv_rows", "image", "file_name")
    counts = dict.fromkeys(kinds, 0)

    def make_case(rng):
        return kinds[int(rng.integers(len(kinds)))], int(rng.integers(2**31))

    def build(kind: str, seed: int, folder: Path) -> None:
        case_rng = np.random.default_rng(seed)
        shutil.copytree(valid, folder)
        if kind == "csv_bytes":
            (folder / "labels.csv").write_bytes(mutate_bytes(csv_text.encode(), case_rng))
        elif kind == "csv_rows":
            rows = csv_text.splitlines()
            at = int(case_rng.integers(1, len(rows) + 1))
            name = HOSTILE_NAMES[int(case_rng.integers(len(HOSTILE_NAMES)))]
            rows.insert(at, f"{name},{int(case_rng.integers(-1, 11))}")
            (folder / "labels.csv").write_text("\n".join(rows) + "\n", errors="surrogateescape")
        elif kind == "image":
            victim = folder / names[int(case_rng.integers(len(names)))]
            victim.write_bytes(mutate_bytes(victim.read_bytes(), case_rng))
        else:
            victim = folder / names[int(case_rng.integers(len(names)))]
            name = HOSTILE_NAMES[int(case_rng.integers(len(HOSTILE_NAMES)))]
            try:
                victim.rename(folder / name)
            except (OSError, ValueError):
                pass  # a name the file system refuses: the case is the unchanged folder

    def try_case(case):
        kind, seed = case
        counts[kind] += 1
        folder = scratch / "case"
        shutil.rmtree(folder, ignore_errors=True)
        build(kind, seed, folder)
        try:
            load_examples(folder)
        except ExamplesError:
            pass
        except Exception as error:  # the finding: anything but ExamplesError
            return {"kind": kind, "seed": seed, "error": f"{type(error).__name__}: {str(error)[:200]}"}
        return None

    result = fuzz_loop(cases, make_case, try_case, rng)
    return {**result, "by_kind": counts}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=2000, help="cases per file target (idx, image)")
    parser.add_argument("--service-cases", type=int, default=1000, help="cases per service target")
    parser.add_argument("--collect-cases", type=int, default=500, help="cases for POST /collect")
    parser.add_argument("--finetune-cases", type=int, default=300, help="examples folders for finetune")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="digitnet-fuzz-") as scratch:
        targets = {"idx": fuzz_idx(args.cases, rng, Path(scratch)), "image": fuzz_images(args.cases, rng)}
    targets.update(fuzz_service(args.service_cases, rng))
    with tempfile.TemporaryDirectory(prefix="digitnet-fuzz-") as scratch:
        targets["collect"] = fuzz_collect(args.collect_cases, rng, Path(scratch))
        targets["finetune"] = fuzz_finetune(args.finetune_cases, rng, Path(scratch))
    result = {
        "benchmark": "fuzz",
        "seed": args.seed,
        "cases": sum(t["cases"] for t in targets.values()),
        "crashes": sum(t["crashes"] for t in targets.values()),
        "targets": targets,
        "wall_s": round(time.monotonic() - began, 1),
        "machine": describe_machine(),
    }
    print(json.dumps(result, indent=2))
    return 1 if result["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
