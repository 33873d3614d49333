"""A benchmark's result: JSON on stdout, and the same text written atomically to --out when given."""

from __future__ import annotations

import json
from pathlib import Path


def emit_json(payload: dict, out: Path | None) -> None:
    text = json.dumps(payload, indent=2)
    if out:
        from digitnet.util.fileio import atomic_write_text

        atomic_write_text(out, text + "\n")
    print(text)
