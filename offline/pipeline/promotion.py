"""Promote a candidate bundle only if it is at least as good as the serving one.

``decide`` is the rule (pure, hand-tested); ``publish`` moves a staged candidate next to the
other versions and repoints ``<root>/LATEST`` atomically (a symlink written under a temporary
name and renamed over the old one: a reader sees the old target or the new one, never neither).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

LATEST = "LATEST"  # the same pointer `fulcrum export` moves (offline/export/bundle.py)
DEFAULT_METRIC = "ndcg@10"
#: float noise below this is equality (two evaluations of identical bundles must tie)
EPSILON = 1e-9


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    metric: str
    candidate: float | None
    serving: float | None

    @property
    def delta(self) -> float | None:
        if self.candidate is None or self.serving is None:
            return None
        return self.candidate - self.serving


def decide(
    candidate: Mapping[str, float],
    serving: Mapping[str, float] | None,
    metric: str = DEFAULT_METRIC,
    tolerance: float = 0.0,
) -> Decision:
    """Promote when ``candidate[metric] >= serving[metric] - tolerance`` (warm-user metrics of
    the validation slice). No serving bundle: promote. A candidate measured on no user, or
    without the metric, is refused: there is nothing to show it is as good."""
    if tolerance < 0:
        raise ValueError(f"tolerance: must be >= 0, got {tolerance}")
    cand = candidate.get(metric)
    if cand is None:
        return Decision(False, f"the candidate has no {metric}", metric, None, _get(serving, metric))
    if not candidate.get("users", 1):
        return Decision(
            False,
            "the validation slice has no warm user to compare on",
            metric,
            float(cand),
            _get(serving, metric),
        )
    if serving is None:
        return Decision(True, "no serving bundle yet", metric, float(cand), None)
    serv = serving.get(metric)
    if serv is None:
        return Decision(True, f"the serving bundle has no {metric}", metric, float(cand), None)
    if cand + EPSILON >= serv - tolerance:
        how = (
            "better"
            if cand > serv + EPSILON
            else ("as good" if cand + EPSILON >= serv else "within tolerance")
        )
        return Decision(True, f"{how}: {metric} {cand:.4f} vs {serv:.4f}", metric, float(cand), float(serv))
    return Decision(
        False,
        f"worse: {metric} {cand:.4f} < {serv:.4f}" + (f" - {tolerance}" if tolerance else ""),
        metric,
        float(cand),
        float(serv),
    )


def _get(m: Mapping[str, float] | None, key: str) -> float | None:
    return None if m is None or m.get(key) is None else float(m[key])


def point_latest(root: Path, target: Path) -> None:
    """``<root>/LATEST`` -> ``target`` (a folder inside ``root``), replaced atomically."""
    root = Path(root)
    link = root / LATEST
    tmp = root / f".{LATEST}.{os.getpid()}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(Path(target).name)
    os.replace(tmp, link)


def publish(candidate: Path, root: Path, move: bool = True) -> Path:
    """Put ``candidate`` at ``root/<name>`` (moved when ``move`` and on the same file system, else
    copied under a temporary name and renamed) and point ``root/LATEST`` at it; returns the
    published folder."""
    from fulcrum.core.bundle_signature import sign_if_configured

    candidate, root = Path(candidate), Path(root)
    final = root / candidate.name
    if final.resolve() != candidate.resolve():
        if final.exists():
            raise FileExistsError(f"{final}: a bundle of this version is already published")
        if move:
            os.replace(candidate, final)
        else:
            tmp = root / f".{candidate.name}.{os.getpid()}.copy"
            shutil.copytree(candidate, tmp)
            os.replace(tmp, final)
    sign_if_configured(final)  # what a signature vouches for (FULCRUM_BUNDLE_SIGNING_KEY_FILE)
    point_latest(root, final)
    return final


def current(root: Path) -> Path | None:
    """The bundle ``root/LATEST`` points to (resolved), or None."""
    link = Path(root) / LATEST
    return link.resolve() if link.exists() else None


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest sub-folders of ``folder`` (staged candidates)."""
    if not folder.is_dir():
        return []
    subs = sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    gone = subs[keep:]
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
    return gone
