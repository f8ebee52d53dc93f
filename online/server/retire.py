"""Free a replaced serving model off the event loop, a piece at a time.

When ``ModelHolder`` swaps in a reloaded bundle, dropping the old serving model's last reference
frees the whole bundle at once: ONNX Runtime sessions, tokenizers, the lexical index and speller
tables, ~10^5 Python objects. Done on the event loop that took ~235 ms per reload under load
(py-spy ``--gil``: the loop thread at the swap line), a stall of every call in flight.

``retire(box)`` takes the old model out of a one-element list (so the caller keeps no reference)
into a daemon thread, which waits until it holds the **only** reference (in-flight calls still
using the old model finish first; bounded by ``wait_s``), then releases the model's attributes
one by one, recursing ``depth`` levels into objects it alone holds (bundle -> encoders,
catalogue -> lexical index), and yields the GIL between pieces (``time.sleep(0)``), so the loop
waits for at most one piece's C-level deallocation (a tokenizer or an ONNX session: ~10-30 ms
measured under load) instead of the whole bundle's. Nothing is released while anyone else can
still reach it: an attribute is only dropped from an object this thread alone holds.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

#: what sys.getrefcount shows inside ``_sole`` for an object only its caller holds: the caller's
#: name, ``_sole``'s parameter and getrefcount's own argument
_SOLE = 3


def _sole(obj: Any) -> bool:
    return sys.getrefcount(obj) <= _SOLE


def release_gradually(obj: Any, depth: int) -> int:
    """Drop ``obj``'s attributes one at a time (recursing into solely held ones), yielding the
    GIL between them; the pieces released. Call with the only reference to ``obj``."""
    attrs = getattr(obj, "__dict__", None)
    if not isinstance(attrs, dict):
        return 0
    pieces = 0
    for name in list(attrs):
        value = attrs.pop(name, None)
        if depth > 0 and _sole(value):
            pieces += release_gradually(value, depth - 1)
        del value  # deallocated here (when this was the last reference), in this thread
        pieces += 1
        time.sleep(0)  # let the event loop take the GIL between two pieces
    return pieces


def retire(box: list, wait_s: float = 60.0, poll_s: float = 0.05, depth: int = 3) -> threading.Thread:
    """Release ``box.pop()`` in a daemon thread (see the module's docs); returns the thread."""

    def run() -> None:
        obj = box.pop()
        deadline = time.monotonic() + wait_s
        while not _sole(obj) and time.monotonic() < deadline:
            time.sleep(poll_s)
        if not _sole(obj):
            log.info("a replaced model is still referenced after %.0f s; it goes with its last user", wait_s)
            return
        started = time.perf_counter()
        pieces = release_gradually(obj, depth)
        del obj
        log.info(
            "released the replaced model in %d pieces (%.0f ms)",
            pieces,
            (time.perf_counter() - started) * 1e3,
        )

    thread = threading.Thread(target=run, name="retire-model", daemon=True)
    thread.start()
    return thread
