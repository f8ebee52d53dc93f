"""CPU time and resident memory of a process and its descendants, from Linux's /proc.

Used by the serving benchmarks to charge a phase's CPU to the server processes (a ``workers: N``
server is a parent plus N worker processes) and to follow their RSS during a soak."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # the fields after "(comm)", starting at state


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants (threads included)."""
    total = 0.0
    for p in tree(pid):
        try:
            f = _stat(p)
        except OSError:
            continue
        total += (int(f[11]) + int(f[12])) / _TICK  # utime, stime (fields 14, 15 of stat)
    return total


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its live descendants, MiB."""
    total = 0
    for p in tree(pid):
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * _PAGE
        except OSError:
            continue
    return total / 2**20
