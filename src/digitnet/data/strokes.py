"""Pen strokes in a box one unit tall, x to the right and y down: the pieces the synthetic writer's
digits (digitnet.data.writer) and letters (digitnet.data.written_letters) are drawn from.

A stroke is a float64 array (K, 2) of points the pen passes through, in order.
"""

from __future__ import annotations

import numpy as np


def line(*points) -> np.ndarray:
    """A polyline through the points."""
    return np.asarray(points, dtype=np.float64)


def bezier(*points) -> np.ndarray:
    """A chain of cubic Béziers: p0, c1, c2, p1, c1, c2, p2, ... (3n + 1 points), sampled densely."""
    control = np.asarray(points, dtype=np.float64)
    t = np.linspace(0.0, 1.0, 24)[:, None]
    pieces = []
    for start in range(0, len(control) - 1, 3):
        p0, c1, c2, p1 = control[start : start + 4]
        piece = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c1 + 3 * (1 - t) * t**2 * c2 + t**3 * p1
        pieces.append(piece if not pieces else piece[1:])
    return np.concatenate(pieces)


def arc(cx, cy, rx, ry, start_deg, end_deg) -> np.ndarray:
    """An ellipse arc; angles counter-clockwise as seen on the page, 0 = right, 90 = top."""
    angles = np.deg2rad(np.linspace(start_deg, end_deg, max(8, int(abs(end_deg - start_deg) / 6))))
    return np.stack([cx + rx * np.cos(angles), cy - ry * np.sin(angles)], axis=1)


def join(*pieces) -> np.ndarray:
    """One stroke from pieces drawn without lifting the pen (each begins where the last ended)."""
    return np.concatenate([pieces[0]] + [piece[1:] for piece in pieces[1:]])
