"""Process settings that keep one serving process's latency low on a small machine.

- ``limit_blas_threads``: one BLAS thread per process. A serving process answers many requests
  at once; each does a few matrix-vector products over the catalogue (Search's query-item
  cosine, the user's item affinity, nearest catalogue words). OpenBLAS splits each product
  over every core and spins its threads between calls, fighting ONNX Runtime, the event loop
  and the other requests for the same cores. One 3,684 x 384 float32 product on the 2-core
  reference machine under load: 7.3 ms CPU with OpenBLAS's default threads, 0.25 ms with one.
  Parallelism comes from requests (and ``workers``), not from splitting one product.
- ``freeze_heap``: after start-up, move every object then alive (the bundle's tokenizer,
  lexical index, speller tables, Feast and gRPC state: ~10^5 tracked objects) out of the cyclic
  garbage collector's reach (``gc.freeze``). Without it each full collection walks them all --
  120 ms measured under load, the largest single cost in a profile of Search under ghz -- and
  lands on whichever request triggered it. Objects made later (requests, upserts) are collected
  as usual.
- ``refreeze_heap``: after a bundle reload, freeze the new bundle's objects too -- without a
  collection. ``freeze_heap``'s unfreeze + full collection walks the whole heap with the GIL held
  and stalled the event loop for ~500 ms per reload (measured with the loop-lag probe on the
  demo bundle); it is not needed to free the old bundle: the serving model, bundle and catalogue
  hold no reference cycles and go by reference counting when the holder swaps (frozen objects
  are freed like any other when their count drops to zero;
  ``tests/online/server/test_reload_heap.py`` checks that they do). What a reload leaves is at
  most the few cyclic objects the load made and the collector had not reached yet.
- ``set_gil_switch_interval``: how long a thread may hold the GIL while another waits for it
  (``gil_switch_interval_ms``). Upserts run in worker threads as Python holding the GIL; when
  the event loop wants it back it waits up to one interval. The default (5 ms, CPython's) and
  the measured trade-off against throughput: docs/scaling.md.
"""

from __future__ import annotations

import gc
import logging
import sys

log = logging.getLogger(__name__)


def limit_blas_threads(threads: int = 1) -> None:
    """Limit the BLAS libraries NumPy/SciPy loaded in this process to ``threads`` threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as e:  # pragma: no cover - the serve extra installs it
        raise ImportError("serving needs threadpoolctl: pip install 'threadpoolctl>=3.1,<4'") from e
    threadpool_limits(limits=threads, user_api="blas")


def freeze_heap() -> int:
    """Collect once (frozen objects included), then exempt every live object from later
    collections; the count frozen."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("froze %d objects out of the garbage collector's reach", frozen)
    return frozen


def refreeze_heap() -> None:
    """Exempt the objects made since the last freeze (a reloaded bundle) from later collections,
    without collecting: O(1), the generations' lists are moved, not walked (nor counted:
    ``gc.get_freeze_count()`` walks the frozen list, ~100 ms on the loop per reload measured)."""
    gc.freeze()


def set_gil_switch_interval(ms: float) -> None:
    """Set this process's GIL switch interval to ``ms`` milliseconds (``sys.setswitchinterval``).
    ``ms`` comes from a validated ServeConfig; a non-positive value is refused here too, naming
    the field, rather than left to the interpreter's bare ValueError."""
    if not ms > 0:
        raise ValueError(f"gil_switch_interval_ms must be > 0 (got {ms!r})")
    sys.setswitchinterval(ms / 1000.0)
    log.info("GIL switch interval %.3g ms", ms)
