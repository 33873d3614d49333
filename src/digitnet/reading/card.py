"""The shipped model's card (default_model/card.json) as lines a person reads: `digitnet card`.

The card is written by `make model` (digitnet.jobs.model_build.package_model): how the model was
made, its accuracy, its intended use and limits, and the SHA-256 of every file, which reading
checks on load. Here it is only read and laid out; each file is checked against its SHA-256 again,
so the card says whether the files it describes are the ones installed.
"""

from __future__ import annotations

import json
from pathlib import Path

from digitnet.errors import first_line
from digitnet.layout import DETECTOR_DIR
from digitnet.reading import model_source
from digitnet.reading.model_source import CARD_FILE, ShippedModelError
from digitnet.util.fileio import file_sha256

LABEL_WIDTH = 14


def load_card(directory: Path | None = None) -> dict:
    """The shipped model's card; ShippedModelError (one line) when it is missing or damaged."""
    path = Path(directory or model_source.default_model_dir()) / CARD_FILE
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ShippedModelError(
            f"the shipped model's card {path} cannot be read ({first_line(error)}); reinstall digitnet"
        ) from error
    if not isinstance(card, dict):
        raise ShippedModelError(f"the shipped model's card {path} is not a JSON object; reinstall digitnet")
    return card


def card_files(card: dict, directory: Path | None = None) -> list[dict]:
    """Every file the card vouches for: name, size in bytes (None if missing), SHA-256, and
    whether the installed file matches it."""
    directory = Path(directory or model_source.default_model_dir())
    detector = sorted(card.get("detector_sha256", {}).items())
    named = sorted(card.get("sha256", {}).items()) + [(f"{DETECTOR_DIR}/{n}", sha) for n, sha in detector]
    files = []
    for name, sha in named:
        path = directory / name
        present = path.is_file()
        files.append(
            {
                "file": name,
                "bytes": path.stat().st_size if present else None,
                "sha256": sha,
                "matches": present and file_sha256(path) == sha,
            }
        )
    return files


def _percent(value) -> str:
    return f"{100 * value:.2f}%" if isinstance(value, (int, float)) else "not recorded"


def _accuracy_line(card: dict) -> str:
    line = (
        f"MNIST test {_percent(card.get('mnist_test_accuracy'))}, "
        f"MNIST validation {_percent(card.get('mnist_validation_accuracy'))}"
    )
    alone = card.get("mnist_test_accuracy_network_alone")
    if card.get("calibration", {}).get("shift_answers") and alone is not None:
        line += f" (answers over one-pixel shifts; the network alone: MNIST test {_percent(alone)})"
    return line


def _size(count: int | None) -> str:
    if count is None:
        return "missing"
    return f"{count:,} B" if count < 10_000 else f"{count / 1000:,.0f} kB"


def card_lines(card: dict, files: list[dict]) -> list[str]:
    """The card laid out: one label a line (continuations indented), files last."""
    calibration = card.get("calibration", {})
    network = f"{card.get('arch', '?')}, recipe {card.get('recipe', '?')}, seed {card.get('seed', '?')}"
    rows = [
        ("network", network),
        ("accuracy", _accuracy_line(card)),
        ("data", card.get("data", "not recorded")),
    ]
    if calibration:
        rows.append(
            (
                "doubt",
                f"temperature {calibration['temperature']:.3f}, confidence threshold "
                f"{calibration['confidence_threshold']:.3f} "
                f"(flags {100 * calibration.get('flag_rate', 0):g}% "
                f"of validation digits: {calibration.get('fitted_on', '?')})",
            )
        )
    rows.append(("intended use", card.get("intended_use", "not recorded")))
    lines = [f"{label:<{LABEL_WIDTH}}{text}" for label, text in rows]
    limits = card.get("limits") or ["not recorded"]
    lines += [f"{'limits' if i == 0 else '':<{LABEL_WIDTH}}- {limit}" for i, limit in enumerate(limits)]
    for i, entry in enumerate(files):
        size = _size(entry["bytes"])
        state = "ok" if entry["matches"] else "DOES NOT MATCH"
        lines.append(
            f"{'files' if i == 0 else '':<{LABEL_WIDTH}}{entry['file']:<26}{size:>9}  "
            f"sha256 {entry['sha256']}  {state}"
        )
    lines.append(f"{'made by':<{LABEL_WIDTH}}{card.get('made_by', 'not recorded')}")
    return lines
