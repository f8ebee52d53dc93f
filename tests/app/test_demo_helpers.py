"""The demo's pure helpers: step freshness, choosing customers, marking before/after rows."""

from __future__ import annotations

import os
from pathlib import Path

from fulcrum.demo.freshness import Stamps, fingerprint, is_current
from fulcrum.demo.showcase import before_after_rows, choose_customers, reappeared


def _touch(path: Path, text: str, mtime_ns: int) -> Path:
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_fingerprint_changes_with_inputs_and_command_only(tmp_path: Path) -> None:
    raw = _touch(tmp_path / "raw.csv", "a,b\n", 1_000_000_000)
    folder = tmp_path / "run"
    folder.mkdir()
    _touch(folder / "w.bin", "xx", 2_000_000_000)
    key = fingerprint(["train", "--out", "run"], [raw, folder])
    # same state, same key
    assert fingerprint(["train", "--out", "run"], [raw, folder]) == key
    # another command line -> another key
    assert fingerprint(["train", "--out", "other"], [raw, folder]) != key
    # the raw file rewritten (new size and mtime) -> another key
    _touch(raw, "a,b\n1,2\n", 3_000_000_000)
    key2 = fingerprint(["train", "--out", "run"], [raw, folder])
    assert key2 != key
    # a new file inside an input folder -> another key; hidden files are ignored
    _touch(folder / ".tmp", "ignored", 4_000_000_000)
    assert fingerprint(["train", "--out", "run"], [raw, folder]) == key2
    _touch(folder / "more.bin", "y", 4_000_000_000)
    assert fingerprint(["train", "--out", "run"], [raw, folder]) != key2


def test_missing_input_has_its_own_fingerprint(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    key = fingerprint(["x"], [missing])
    _touch(missing, "now here", 1_000_000_000)
    assert fingerprint(["x"], [missing]) != key


def test_is_current_needs_same_key_and_every_output(tmp_path: Path) -> None:
    out = _touch(tmp_path / "out.parquet", "p", 1_000_000_000)
    assert is_current({"train": "k1"}, "train", "k1", [out])
    assert not is_current({"train": "k1"}, "train", "k2", [out])  # inputs changed
    assert not is_current({}, "train", "k1", [out])  # never ran
    assert not is_current({"train": "k1"}, "train", "k1", [out, tmp_path / "gone"])  # output deleted


def test_stamps_persist_and_forget(tmp_path: Path) -> None:
    path = tmp_path / "demo" / "stamps.json"
    s = Stamps(path)
    s.set("prepare", "abc")
    s.set("features", "def")
    assert Stamps(path).values == {"prepare": "abc", "features": "def"}
    s.forget("features")
    assert Stamps(path).values == {"prepare": "abc"}
    path.write_text("not json")
    assert Stamps(path).values == {}  # a damaged file means: run everything


def test_choose_customers_prefers_visible_anti_recommendation() -> None:
    before = {
        "u1": ["a", "b", "c"],  # bought a, b -> overlap 2
        "u2": ["d", "e", "f"],  # bought x, y, z -> overlap 0 but 3 purchases
        "u3": ["g", "h", "i"],  # bought g -> overlap 1
        "u4": ["j", "k", "l"],  # bought j, z -> overlap 1, 2 purchases: before u3
    }
    bought = {"u1": ["a", "b"], "u2": ["x", "y", "z"], "u3": ["g"], "u4": ["j", "z"]}
    # order: u1 (2), u4 (1, 2 bought), u3 (1, 1 bought), u2 (0)
    assert choose_customers(before, bought, n=3) == ["u1", "u4", "u3"]
    assert choose_customers(before, bought, n=10) == ["u1", "u4", "u3", "u2"]


def test_reappeared_lists_bought_items_still_recommended() -> None:
    assert reappeared(["a", "q", "b"], ["b", "c"]) == ["b"]
    assert reappeared(["q", "r"], ["b", "c"]) == []


def test_before_after_rows_mark_bought_and_new_items() -> None:
    text = {"a": "RED HEART", "b": "TEA SET", "c": "LIGHTS", "d": "MUG"}
    rows = before_after_rows(["a", "b"], ["b", "c", "d"], bought=["a"], text=text)
    assert rows == [
        ("1", "[strike]a red heart[/strike] [red]bought[/red]", "b tea set"),  # a bought; b was before
        ("2", "b tea set", "c lights [green]new[/green]"),
        ("3", "", "d mug [green]new[/green]"),
    ]


def test_processes_are_stopped_on_error_and_a_dead_server_is_reported(tmp_path: Path) -> None:
    import sys

    import pytest

    from fulcrum.demo.processes import Processes, free_port, wait_serving

    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    calls: list[str] = []
    with pytest.raises(RuntimeError, match="boom"), Processes() as procs:
        proc = procs.start("sleeper", sleeper, tmp_path / "sleeper.log")
        procs.on_exit("callback", lambda: calls.append("callback"))
        assert proc.poll() is None
        raise RuntimeError("boom")
    # stopped by SIGTERM (negative return code = the signal), the callback ran too
    assert proc.returncode == -15 and calls == ["callback"]

    # a "server" that dies at once: wait_serving names the exit code and shows the log tail
    log = tmp_path / "dead.log"
    with Processes() as procs:
        dead = procs.start("dead", [sys.executable, "-c", "print('bad bundle'); raise SystemExit(2)"], log)
        dead.wait(30)
        with pytest.raises(RuntimeError, match="exited with code 2") as err:
            wait_serving(f"127.0.0.1:{free_port()}", dead, 30.0, log)
        assert "bad bundle" in str(err.value)


def test_evaluation_prefers_the_bundle_report_and_reads_both_formats(tmp_path: Path) -> None:
    import json

    from fulcrum.demo.showcase import evaluation_rows, evaluation_source

    results = tmp_path / "evaluation" / "results.json"
    bundle = tmp_path / "bundles" / "v1"
    assert evaluation_source(results, bundle) is None
    results.parent.mkdir()
    results.write_text(json.dumps({"results": {"als": {"metrics": {"warm": {"ndcg@10": 0.09}, "cold": {}}}}}))
    assert evaluation_source(results, bundle) == results
    (bundle / "report").mkdir(parents=True)
    report = bundle / "report" / "metrics.json"
    report.write_text(
        json.dumps(
            {
                "recommenders": {
                    "model": {"metrics": {"warm": {"ndcg@10": 0.12}, "cold": {"recall@10": 0.07}}},
                    "als": {"metrics": {"warm": {"ndcg@10": 0.09}, "cold": {}}},
                }
            }
        )
    )
    assert evaluation_source(results, bundle) == report
    # `fulcrum evaluate --bundle B --out DIR` (what the demo runs) writes the report into DIR
    beside = results.parent / "metrics.json"
    beside.write_text(report.read_text())
    assert evaluation_source(results, bundle) == beside
    rows = evaluation_rows(json.loads(report.read_text()))
    assert rows == [("model", {"ndcg@10": 0.12}, {"recall@10": 0.07}), ("als", {"ndcg@10": 0.09}, {})]
    assert evaluation_rows(json.loads(results.read_text())) == [("als", {"ndcg@10": 0.09}, {})]


def test_the_train_step_depends_on_the_embedded_defaults(monkeypatch) -> None:
    from fulcrum.demo.pipeline import Layout, train_step

    before = train_step(Layout())
    monkeypatch.setenv("FULCRUM_TRAIN_THREADS", "1" if '"threads":1' not in before.salt else "2")
    after = train_step(Layout())
    assert before.salt and after.salt != before.salt
    assert fingerprint((*before.argv, before.salt), before.inputs) != fingerprint(
        (*after.argv, after.salt), after.inputs
    )
