"""`python -m benchmarks.scale_out ingest`: 1 vs 2 `fulcrum ingest` consumers in one group.

Each run replays the same ``--events`` events (batched records, as `fulcrum replay` sends them)
to a fresh topic with ``--partitions`` partitions on a real broker (deploy/kafka/kafka.sh on
loopback unless ``--bootstrap``), starts N consumer processes in a fresh group writing to the
Feast online store ``--feature-store``, and times the drain: from the processes' start (start-up
and group join included) and from the group's first commit, until the committed offsets reach
the end of every partition.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

from benchmarks.real_path import ROOT, free_port


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _kafka(bootstrap: str | None, work: Path):
    """(bootstrap, stop) of a broker: the given one, or a real one started on loopback in ``work``."""
    if bootstrap:
        return bootstrap, lambda: None
    port, ctrl = free_port(), free_port()
    script = ROOT / "deploy" / "kafka" / "kafka.sh"
    subprocess.run(
        [
            str(script),
            "start",
            "--port",
            str(port),
            "--dir",
            str(work / "kafka"),
            "--controller-port",
            str(ctrl),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return f"127.0.0.1:{port}", lambda: subprocess.run(
        [str(script), "stop", "--dir", str(work / "kafka")], check=False, stdout=subprocess.DEVNULL
    )


def _progress(admin, group: str, topic: str, consumer) -> tuple[int, bool]:
    """(records committed by the group so far, drained: every partition committed to its end)."""
    from kafka import TopicPartition
    from kafka.errors import KafkaError

    try:
        offsets = admin.list_group_offsets(group).get(group) or {}
    except KafkaError:  # the group has no coordinator until a consumer joined: nothing yet
        return 0, False
    parts = consumer.partitions_for_topic(topic) or set()
    ends = consumer.end_offsets([TopicPartition(topic, p) for p in parts])
    done = {tp: (offsets[tp].offset if offsets.get(tp) else 0) for tp in ends}
    return sum(done.values()), bool(ends) and all(done[tp] >= end for tp, end in ends.items())


def ingest(
    feature_repo: Path = typer.Option(..., "--feature-repo"),  # noqa: B008
    data: Path = typer.Option(Path("artifacts/data"), "--data"),  # noqa: B008
    store: str = typer.Option("redis", "--feature-store"),
    redis_url: str | None = typer.Option(None, "--redis-url"),
    bootstrap: str | None = typer.Option(None, "--bootstrap"),
    events: int = typer.Option(100_000, "--events"),
    partitions: int = typer.Option(3, "--partitions"),
    out: Path | None = typer.Option(None, "--out"),  # noqa: B008
) -> None:
    """1 vs 2 `fulcrum ingest` consumers in one group: events/s to drain the same events."""
    from kafka import KafkaAdminClient, KafkaConsumer

    rows = []
    env = dict(os.environ, PYTHONPATH=str(ROOT), FULCRUM_FEATURE_STORE=store)
    if redis_url:
        env["FULCRUM_REDIS_URL"] = redis_url
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        boot, stop_kafka = _kafka(bootstrap, work)
        try:
            for n in (1, 2):
                topic, group = f"scale-{n}-{int(time.time())}", f"fulcrum-ingest-scale-{n}-{int(time.time())}"
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "fulcrum.cli",
                        "replay",
                        "--data",
                        str(data),
                        "--bootstrap",
                        boot,
                        "--topic",
                        topic,
                        "--limit",
                        str(events),
                        "--partitions",
                        str(partitions),
                    ],
                    check=True,
                    env=env,
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                )
                cmd = [
                    sys.executable,
                    "-m",
                    "fulcrum.cli",
                    "ingest",
                    "--bootstrap",
                    boot,
                    "--topic",
                    topic,
                    "--group",
                    group,
                    "--feature-repo",
                    str(feature_repo.resolve()),
                    "--feature-store",
                    store,
                    "--metrics-port",
                    "0",
                    "--health-port",
                    "0",
                ]
                if redis_url:
                    cmd += ["--redis-url", redis_url]
                admin = KafkaAdminClient(bootstrap_servers=boot)
                probe = KafkaConsumer(bootstrap_servers=boot)
                t0 = time.monotonic()
                procs = [
                    subprocess.Popen(
                        cmd,
                        env=env,
                        cwd=ROOT,
                        stdout=subprocess.DEVNULL,
                        stderr=open(work / f"ingest-{n}-{i}.log", "w"),
                    )  # noqa: SIM115
                    for i in range(n)
                ]
                try:
                    first = None  # (time, records) of the first commit: start-up and join are over
                    while True:
                        committed, drained = _progress(admin, group, topic, probe)
                        if first is None and committed > 0:
                            first = (time.monotonic(), committed)
                        if drained:
                            break
                        if any(p.poll() is not None for p in procs):
                            raise RuntimeError(f"a consumer exited; see {work}/ingest-{n}-*.log")
                        if time.monotonic() - t0 > 900:
                            raise RuntimeError("not drained in 15 minutes")
                        time.sleep(0.5)
                    end = time.monotonic()
                    seconds = end - t0
                    # after the first commit, at the records' mean events per record
                    steady = float("nan")  # nan: everything was committed at once, no interval
                    if first is not None and committed > first[1]:
                        steady = (committed - first[1]) * events / committed / max(end - first[0], 1e-9)
                finally:
                    for p in procs:
                        p.terminate()
                    for p in procs:
                        p.wait(60)
                    admin.close()
                    probe.close()
                rows.append(
                    {
                        "consumers": n,
                        "events": events,
                        "seconds": seconds,
                        "events_per_s": events / seconds,
                        "events_per_s_after_first_commit": steady,
                        "load_1m": os.getloadavg()[0],
                    }
                )
                print(
                    f"{n} consumer(s), {partitions} partitions, {store}: {events} events "
                    f"in {seconds:.1f} s = "
                    f"{events / seconds:,.0f} events/s (start-up and group join included), "
                    f"{steady:,.0f} events/s after the first commit; {_load()}",
                    flush=True,
                )
        finally:
            stop_kafka()
    key = "events_per_s_after_first_commit"
    print(
        f"two / one consumer: {rows[1]['events_per_s'] / rows[0]['events_per_s']:.2f}x overall, "
        f"{rows[1][key] / rows[0][key]:.2f}x after the first commit"
    )
    if out:
        out.write_text(json.dumps(rows, indent=2))
