"""What the outbox deliverers' `--loop` share: stopping cleanly on a signal."""

from __future__ import annotations

import signal
import threading


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM or Ctrl-C sets: a loop finishes the work in hand, then leaves."""
    stop = threading.Event()

    def _stop(signum, frame) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop
