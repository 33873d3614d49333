"""The model runs on one thread of its own; requests that arrive while it is busy share the next call.

The event loop never waits on TensorFlow: a request puts its images on a queue and awaits a
future. The worker takes everything queued (up to `max_images`), runs one `Predictor.predict`
over the lot and hands each request its slice. Under load this batches concurrent requests
(one model call for many images is far cheaper than many calls for one); when idle a request
runs alone at once, with no waiting window to add latency.

`oldest_wait_s` says how long the longest-waiting request has been waiting for the model, so that
readiness can say "not ready" when the model is stuck instead of queueing requests forever.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
import time

import numpy as np

from digitnet.shapes import INPUT_SHAPE

DEFAULT_MAX_IMAGES = 256  # per model call; a request larger than this still runs, alone
# A request waiting this long for the model means it is stuck (a full batch takes milliseconds with
# LiteRT, a fraction of a second with Keras): the service then reports itself not ready.
STUCK_AFTER_S = 10.0

_STOP = object()


def _resolve(future: asyncio.Future, result=None, error: BaseException | None = None) -> None:
    if future.done():  # the request was cancelled (client gone); nobody is waiting
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class BatchingPredictor:
    """`await predict(images)` from any event loop; one worker thread calls the model."""

    def __init__(self, predictor, max_images: int = DEFAULT_MAX_IMAGES):
        self.predictor = predictor
        self.max_images = max_images
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._waiting: dict[int, float] = {}  # ticket -> when queued, oldest first (dicts keep order)
        self._waiting_lock = threading.Lock()
        self._tickets = itertools.count()

    async def predict(self, images: np.ndarray) -> list:
        """images: float32 (N, 28, 28) or (N, 28, 28, 1) in [0, 1]; N >= 1. Returns N Predictions."""
        images = np.asarray(images, dtype=np.float32).reshape(-1, *INPUT_SHAPE)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._ensure_started()
        ticket = next(self._tickets)
        with self._waiting_lock:
            self._waiting[ticket] = time.monotonic()
        self._queue.put((images, future, loop, ticket))
        return await future

    def oldest_wait_s(self) -> float:
        """Seconds the longest-waiting request has waited for its answer so far; 0 when none waits."""
        with self._waiting_lock:
            oldest = next(iter(self._waiting.values()), None)
        return 0.0 if oldest is None else time.monotonic() - oldest

    def is_stuck(self) -> bool:
        return self.oldest_wait_s() > STUCK_AFTER_S

    def close(self) -> None:
        """Finish what is queued, then stop the worker."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="digitnet-model", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, stop = self._take_batch(first)
            self._run(batch)
            if stop:
                return

    def _take_batch(self, first) -> tuple[list, bool]:
        batch, count = [first], len(first[0])
        while count < self.max_images:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
            count += len(item[0])
        return batch, False

    def _run(self, batch: list) -> None:
        try:
            predictions = self.predictor.predict(np.concatenate([images for images, _, _, _ in batch]))
        except BaseException as error:  # a model failure is every waiting request's 500
            self._done(batch)
            for _, future, loop, _ in batch:
                _call_soon(loop, _resolve, future, None, error)
            return
        self._done(batch)
        start = 0
        for images, future, loop, _ in batch:
            _call_soon(loop, _resolve, future, predictions[start : start + len(images)])
            start += len(images)

    def _done(self, batch: list) -> None:
        with self._waiting_lock:
            for *_, ticket in batch:
                self._waiting.pop(ticket, None)


def _call_soon(loop, *args) -> None:
    try:
        loop.call_soon_threadsafe(*args)
    except RuntimeError:  # that request's event loop has closed; nobody is waiting
        pass
