"""Guards: a bundle is only scored on data it never trained on.

Every bundle records its training cut (``manifest.training_cut``: the split kind, the instant
after its last train event) and the sha256 of the events it was prepared from
(``manifest.data_fingerprint.events_sha256``). ``check_out_of_sample`` is the rule, pure:

- a slice with one cut for everyone (a time split's test, a validation window) starting at
  ``slice_start``: the bundle's last train event must lie strictly before it; a bundle trained on
  data at or past the cut is refused;
- a slice with one cut per user (leave-last-out test baskets): the calendar says nothing, so the
  bundle must have been trained on exactly this prepared folder (same events fingerprint), whose
  train split holds none of the held-out baskets; a per-user slice carved out of train (the
  leave-last-out validation baskets) is refused: a trained bundle has seen them.

A bundle that records neither is refused: nothing shows it is out of sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


class InSampleError(ValueError):
    """The bundle may have trained on the slice it would be scored on; the message says why."""


def _instant(raw: Any) -> float | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(str(raw)).timestamp()
    except ValueError:
        return None


def training_cut(manifest: Mapping[str, Any]) -> tuple[str | None, float | None]:
    """(split kind, epoch seconds of the bundle's last train event) from a manifest, or Nones."""
    cut = manifest.get("training_cut") or {}
    if not isinstance(cut, Mapping):
        return None, None
    last = _instant(cut.get("last_train_event")) or _instant(cut.get("train_end"))
    return cut.get("split"), last


def check_out_of_sample(
    manifest: Mapping[str, Any],
    name: str,
    events_sha256: str,
    slice_start: float | None,
    per_user: bool,
    slice_is_test: bool = True,
) -> None:
    """Raise ``InSampleError`` unless the bundle ``name`` provably never saw the slice.

    ``slice_start``: epoch seconds where a shared-cut slice begins (None for a per-user slice);
    ``events_sha256``: the fingerprint of the prepared events the slice comes from."""
    fingerprint = (manifest.get("data_fingerprint") or {}).get("events_sha256")
    same_data = bool(fingerprint) and fingerprint == events_sha256
    _, last = training_cut(manifest)
    if per_user:
        if not slice_is_test:
            raise InSampleError(
                f"{name}: refused: the slice is each user's last train basket (leave-last-out "
                "validation), which a trained bundle has seen (fix: evaluate on the test split)"
            )
        if same_data:
            return
        raise InSampleError(
            f"{name}: refused: the slice holds out each user's last basket (leave-last-out), and the "
            "bundle was not trained on this prepared folder (its data fingerprint differs), so it may "
            "have trained on the held-out baskets (fix: train the bundle on this folder)"
        )
    if last is not None and slice_start is not None:
        if last < slice_start:
            return
        raise InSampleError(
            f"{name}: refused: it trained on events up to {datetime.fromtimestamp(last, UTC).isoformat()} "
            f"at or past the evaluation cut {datetime.fromtimestamp(slice_start, UTC).isoformat()} "
            "(fix: evaluate on a later cut, or train on data before it)"
        )
    if same_data and slice_is_test:
        return
    raise InSampleError(
        f"{name}: refused: the bundle records no training cut and was not trained on this prepared "
        "folder, so nothing shows it is out of sample (fix: re-train and export it with this version)"
    )
