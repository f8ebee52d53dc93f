"""benchmarks/proc_stats.py: a process tree's CPU and RSS from /proc (what the serving benchmarks
charge to a `workers: N` server), checked on a real child process."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from benchmarks.proc_stats import tree, tree_cpu_s, tree_rss_mb

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="Linux /proc")


def test_a_childs_cpu_and_memory_count_for_its_parent():
    # the child burns CPU and holds ~64 MiB, then waits to be killed
    code = (
        "b = bytearray(64 * 2**20)\nimport time\nt = time.process_time()\n"
        "while time.process_time() - t < 0.3: pass\nprint('ready', flush=True)\ntime.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        me = os.getpid()
        assert child.pid in tree(me)
        assert tree_cpu_s(child.pid) >= 0.3  # the 0.3 s it burnt
        assert tree_cpu_s(me) >= tree_cpu_s(child.pid)  # the parent's tree includes it
        assert tree_rss_mb(child.pid) >= 64
        assert tree_rss_mb(me) >= tree_rss_mb(child.pid)
    finally:
        child.kill()
        child.wait()
    deadline = time.monotonic() + 10
    while child.pid in tree(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.pid not in tree(os.getpid())
