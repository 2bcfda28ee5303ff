"""Run a generator in a thread, so that parsing overlaps the database's work on another core."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()
POLL_S = 0.1


def in_background(items: Iterator[T], *, ahead: int = 2) -> Generator[T, None, None]:
    """Yield what `items` yields, produced by a thread up to `ahead` items early.

    An exception in the producer is raised here, in the consumer; if the consumer stops early
    (or fails), the producer is told to stop and is joined.
    """
    channel: queue.Queue[object] = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(channel, item, stop):
                    return
            _put(channel, _DONE, stop)
        except BaseException as exc:  # handed to the consumer, who raises it
            _put(channel, exc, stop)

    thread = threading.Thread(target=produce, name="finch-import-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = channel.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


def _put(channel: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            channel.put(item, timeout=POLL_S)
            return True
        except queue.Full:
            continue
    return False
