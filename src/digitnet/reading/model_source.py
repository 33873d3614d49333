"""What MODEL means, decided once: a run directory, a .keras file, an ensemble directory, or the
shipped default.

Every command that takes a model (predict, serve, evaluate, export, finetune) asks `ModelSource.from_path`
(or `ModelSource.default()` when no model is named) and gets one answer: which kind it is, which
model.keras files hold its networks, and the folder whose side files travel with it:

    model_dir/
      model.keras          the network (an ensemble has one per member, see ensemble_dir)
      config.json          how it was trained (a run made by `digitnet train`)
      calibration.json     temperature and doubt threshold fitted on validation data (optional)
      detector/            its own not-a-digit detector (optional; else the cached, else the shipped one)

Imports no Keras: deciding what a path is needs only the file system.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from digitnet.errors import DigitnetError, first_line
from digitnet.layout import (
    CALIBRATION_FILE,
    CONFIG_FILE,
    DETECTOR_DIR,
    MANIFEST_FILE,
    MODEL_FILE,
    litert_path,
    read_config_dict,
)
from digitnet.reading.ensemble_dir import is_ensemble_dir, member_model_paths

KINDS = ("run", "keras", "ensemble")


# Caps on a .keras archive, checked before Keras reads it: a digitnet network's config.json is
# tens of kB and its whole archive a few MB, so these leave room for far larger networks while a
# zip bomb (a 600 kB file whose config.json inflates to 600 MB) is refused before it is unpacked.
MAX_CONFIG_BYTES = 5 * 2**20
MAX_ARCHIVE_BYTES = 500 * 2**20
MAX_COMPRESSION_RATIO = 200  # for members above RATIO_CHECK_BYTES; weights compress ~1.1:1
RATIO_CHECK_BYTES = 2**20


CARD_FILE = "card.json"
DEFAULT_NAME = "default"  # what names the shipped model wherever a MODEL is taken


class ModelLoadError(DigitnetError):
    """PATH does not hold a usable model; the message says what to pass instead."""


class ShippedModelError(ModelLoadError):
    """A file of the shipped model does not match the SHA-256 in its card (damaged or swapped)."""


def shipped_checksums(directory: Path) -> dict[str, str]:
    """The shipped model's card: file (relative to the model folder) -> SHA-256."""
    try:
        card = json.loads((Path(directory) / CARD_FILE).read_text())
        checksums = dict(card["sha256"])
        checksums.update({f"{DETECTOR_DIR}/{name}": sha for name, sha in card["detector_sha256"].items()})
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ShippedModelError(
            f"the shipped model's {CARD_FILE} in {directory} is missing or damaged ({first_line(error)}); "
            "reinstall digitnet"
        ) from error
    return checksums


def read_shipped_file(directory: Path, relative: str) -> bytes:
    """A file of the shipped model, checked against its card; ShippedModelError on any mismatch."""
    path = Path(directory) / relative
    expected = shipped_checksums(directory).get(relative)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise ShippedModelError(
            f"the shipped model's {relative} cannot be read ({error.strerror}); reinstall digitnet"
        ) from error
    if expected is None or hashlib.sha256(content).hexdigest() != expected:
        raise ShippedModelError(
            f"the shipped model's {path} does not match the SHA-256 in its {CARD_FILE} "
            "(damaged or replaced); it was not loaded: reinstall digitnet"
        )
    return content


def default_model_dir() -> Path:
    """The reading model shipped inside the package (made by `make model`)."""
    return Path(str(resources.files("digitnet") / "default_model"))


def looks_like_model(path: Path) -> bool:
    """True when `path` names a model rather than an image or a folder of images.

    Used to tell `predict MODEL IMAGE...` from `predict IMAGE...`, by what a model is: a folder
    counts when its model.keras is a zip archive (what Keras saves), its manifest.json is an
    ensemble's (a "members" list) or its config.json is a digitnet run's (a "config" object: an
    unfinished run, which from_path then says how to finish); any config.json or model.keras does
    not. A name ending in .keras always counts, so a mistyped one gets a model's error.
    """
    path = Path(path)
    if path.is_dir():
        return (
            _is_zip(path / MODEL_FILE)
            or _json_object_with(path / MANIFEST_FILE, "members", list)
            or _json_object_with(path / CONFIG_FILE, "config", dict)
        )
    return path.suffix == ".keras"


def _is_zip(path: Path) -> bool:
    try:
        return path.is_file() and zipfile.is_zipfile(path)
    except OSError:
        return False


def _json_object_with(path: Path, key: str, kind: type) -> bool:
    """True when `path` is a JSON object (of at most MAX_CONFIG_BYTES) whose `key` holds a `kind`."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
            return False
        payload = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(payload, dict) and isinstance(payload.get(key), kind)


def split_model_and_images(names: list[str]) -> tuple[Path | None, list[str], str | None]:
    """`predict [MODEL] IMAGE...`: (the model, or None for the shipped one; the images; a note).

    The first name is the model when it is one (looks_like_model), and the rest are the images.
    When that folder also holds images, the note says it is used as the model (so its images are
    not read) and how to read them instead. ModelLoadError when the model is the only name.
    """
    from digitnet.data.inputs import IMAGE_SUFFIXES  # no Pillow: a set of suffixes

    first = Path(names[0])
    if not looks_like_model(first):
        return None, list(names), None
    if len(names) == 1:
        raise ModelLoadError(f"{names[0]} is a model; name the images to read after it")
    note = None
    if first.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in first.iterdir() if p.is_file()):
        note = (
            f"{names[0]} is used as the model (it holds one) and its images are not read; to read "
            f"them with the shipped model, name that explicitly: --model {default_model_dir()}"
        )
    return first, list(names[1:]), note


@dataclass(frozen=True)
class ModelSource:
    path: Path  # as the user named it
    kind: str  # one of KINDS
    model_files: tuple[Path, ...]  # one model.keras a network (ensemble members in order)
    directory: Path | None  # where config.json / calibration.json / detector/ may live
    is_default: bool = False

    @classmethod
    def resolve(cls, model: Path | str | ModelSource | None) -> ModelSource:
        """`model` as a ModelSource: itself, the model at that path, or (None or "default") the
        shipped one; a path named `default` that exists is that path."""
        if isinstance(model, ModelSource):
            return model
        if model is None or (str(model) == DEFAULT_NAME and not Path(model).exists()):
            return cls.default()
        return cls.from_path(Path(model))

    @classmethod
    def from_path(cls, path: Path) -> ModelSource:
        path = Path(path)
        if is_ensemble_dir(path):
            return cls.ensemble(path)
        if path.is_dir():
            candidate = path / MODEL_FILE
            if not candidate.is_file():
                raise ModelLoadError(
                    f"{path} holds no {MODEL_FILE}: the run has not finished "
                    f"(continue it with `digitnet train --resume {path}`) or is not a digitnet run"
                )
            return cls(path, "run", (candidate,), path)
        if not path.exists():
            raise ModelLoadError(f"{path} does not exist; pass a run directory or a model.keras file")
        if path.suffix != ".keras" or not zipfile.is_zipfile(path):
            raise ModelLoadError(
                f"{path} is not a Keras model (.keras archive); pass a run directory or a model.keras file"
            )
        # A model.keras inside a run keeps its run's side files; any other .keras file stands alone.
        directory = path.parent if path.name == MODEL_FILE else None
        return cls(path, "keras", (path,), directory)

    @classmethod
    def ensemble(cls, path: Path) -> ModelSource:
        """An ensemble directory with every member trained; otherwise an EnsembleError that says how
        to make or finish one (a run or a .keras file is not an ensemble)."""
        path = Path(path)
        return cls(path, "ensemble", tuple(member_model_paths(path)), path)

    @classmethod
    def default(cls) -> ModelSource:
        directory = default_model_dir()
        if not (directory / MODEL_FILE).is_file():
            raise ModelLoadError(
                f"no default model is shipped in {directory}; build it with "
                "`make model`, or name a model: a run directory or a model.keras file"
            )
        return cls(directory, "run", (directory / MODEL_FILE,), directory, is_default=True)

    @property
    def model_file(self) -> Path:
        """The single network's file; an error for an ensemble, which has several."""
        if len(self.model_files) != 1:
            raise ModelLoadError(
                f"{self.path} is an ensemble of {len(self.model_files)} networks; "
                "pass one member's run directory"
            )
        return self.model_files[0]

    def check_shipped(self, *relatives: str) -> None:
        """For the shipped model, ShippedModelError unless these files match its card; else nothing."""
        if self.is_default:
            for relative in relatives:
                read_shipped_file(self.directory, relative)

    def shipped_litert(self) -> bytes:
        """The shipped model's LiteRT network (model.tflite), checked against its card."""
        return read_shipped_file(self.directory, litert_path(Path(MODEL_FILE)).name)

    def side_file(self, name: str) -> Path | None:
        if self.directory is None or not (self.directory / name).exists():
            return None
        return self.directory / name

    @property
    def calibration_file(self) -> Path | None:
        return self.side_file(CALIBRATION_FILE)

    @property
    def detector_dir(self) -> Path | None:
        return self.side_file(DETECTOR_DIR)

    def run_config(self) -> dict | None:
        """The run's saved config as a plain dict, or None where there is none or it is unreadable."""
        return None if self.directory is None else read_config_dict(self.directory)


def check_keras_archive(
    model_path: Path,
    max_config_bytes: int = MAX_CONFIG_BYTES,
    max_total_bytes: int = MAX_ARCHIVE_BYTES,
    max_ratio: float = MAX_COMPRESSION_RATIO,
) -> None:
    """ModelLoadError when the .keras zip would unpack to far more than any network needs.

    Reads only the archive's directory (the sizes it declares); nothing is decompressed here.
    """
    try:
        with zipfile.ZipFile(model_path) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile) as error:
        raise ModelLoadError(
            f"{model_path} is not a readable .keras archive ({first_line(error)})"
        ) from error
    total = sum(member.file_size for member in members)
    config = next((member for member in members if member.filename == "config.json"), None)
    bloated = [
        member.filename
        for member in members
        if member.file_size > RATIO_CHECK_BYTES
        and member.file_size > max_ratio * max(member.compress_size, 1)
    ]
    if total > max_total_bytes or (config and config.file_size > max_config_bytes) or bloated:
        config_mb = (config.file_size if config else 0) / 2**20
        squeezed = f", {', '.join(bloated)} compressed beyond {max_ratio:g}:1" if bloated else ""
        raise ModelLoadError(
            f"{model_path} would unpack to {total / 2**20:.1f} MB "
            f"(config.json {config_mb:.1f} MB{squeezed}), "
            "far beyond any digitnet network (a zip bomb?); it was not loaded: pass a model made by digitnet"
        )
