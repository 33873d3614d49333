"""DigitnetError, the one base of every error a user can fix, and the one-line form of any error.

Each module keeps its own error class (ConfigError, DataError, ModelLoadError, ...) so callers can
catch exactly what they expect; every one of them also derives from DigitnetError, so the CLI
catches that alone and shows the message as one line with exit status 2.

A leaf module: it imports nothing of digitnet, so any module may import it.
"""

from __future__ import annotations

DETAIL_CHARS = 200  # the most of a foreign error's message repeated inside one of ours


class DigitnetError(Exception):
    """A mistake the user can fix; str() says what is wrong and how to fix it."""


def first_line(error: BaseException | str, limit: int = DETAIL_CHARS, empty: str = "no details") -> str:
    """The first non-blank line of an error's message, at most `limit` characters; `empty` if none.

    Libraries (Keras, Pillow, converters) raise messages of many lines, or of none at all;
    ours quote only this much of them.
    """
    text = str(error).strip()
    return text.splitlines()[0].rstrip()[:limit] if text else empty
