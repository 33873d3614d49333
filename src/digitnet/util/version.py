"""The installed package's version, read from its metadata (no import of the package's parts)."""

from __future__ import annotations


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("digitnet")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "unknown"
