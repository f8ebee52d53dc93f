"""The demo's online half end to end on the tiny bundle: history cut, Feast apply (SQLite, a
private repo copy), a real `fulcrum serve` sub-process on a free port, the replay through
IngestEvents, before/after recommendations, Search and cold start; and everything stopped."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_online_half_on_the_tiny_bundle(tiny_bundle: Path, tmp_path: Path) -> None:
    from rich.console import Console

    from fulcrum.demo import command
    from fulcrum.demo.freshness import Stamps
    from fulcrum.demo.pipeline import Layout, Timeline, features_step, history_step, run_step

    root = tmp_path / "artifacts"
    shutil.copytree(tiny_bundle.parent.parent / "data", root / "data")
    (root / "bundles").mkdir(parents=True)
    shutil.copytree(tiny_bundle, root / "bundles" / tiny_bundle.name)
    (root / "bundles" / "LATEST").symlink_to(tiny_bundle.name)
    lay = Layout(root=root)
    console = Console(record=True, width=160)
    stamps = Stamps(lay.stamps)
    timeline = Timeline()
    for i, step in enumerate([history_step(lay), features_step(lay)], start=1):
        assert run_step(step, stamps, console, i, 4).status == "ran"
    # a second pass skips both: their inputs did not change
    assert [run_step(s, stamps, console, 1, 4).status for s in (history_step(lay), features_step(lay))] == [
        "skipped",
        "skipped",
    ]

    command._online(console, lay, stamps, timeline, False, 0, 2, 180.0, 4)
    out = console.export_text()

    # the replay went through IngestEvents and was counted
    m = re.search(r"IngestEvents: (\d+) events .*?: (\d+) accepted, (\d+) rejected, (\d+) duplicates", out)
    assert m, out
    events, accepted, rejected, duplicates = map(int, m.groups())
    assert accepted > 0 and accepted + rejected + duplicates == events
    # anti-recommendation: nothing the shown customers bought is recommended afterwards
    assert re.search(r"anti-recommendation: 0 of the [1-9]\d* items", out), out
    assert out.count("BEFORE the new purchases") == 2
    for q in ("red heart", "christmas lights", "tea set"):
        assert f'Search "{q}"' in out
    assert "cold-start user" in out
    assert [r.name for r in timeline.results] == ["serve", "replay"]
    # the features step must run again next time: the online store moved past the split
    assert "features" not in Stamps(lay.stamps).values
    # the server sub-process was stopped gracefully
    log = (lay.logs / "serve.log").read_text()
    assert "shutting down" in log and "server stopped" in log
