"""`python -m benchmarks.scale_out ingest`: 1 vs 2 `fulcrum ingest` consumers in one group.

Each run creates a fresh topic with ``--partitions`` partitions on a real broker
(deploy/kafka/kafka.sh on loopback unless ``--bootstrap``), starts N consumer processes in a fresh
group writing to the Feast online store ``--feature-store``, waits until all N are in the group
(Stable: start-up and the join are not timed), then replays the same ``--events`` events
(batched records, as `fulcrum replay` sends them) and times from the first record on the topic
until the group's committed offsets reach the end of every partition (the producer's own time
is printed beside it: when it is close to the drain time, the producer was the bottleneck).
``--redis-url`` must name a Redis database used for nothing else (e.g. ``redis://HOST:PORT/1``):
it is FLUSHED before each run, so that every run applies the same events to an empty store.
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
from fulcrum.core.environment import child_environment


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


def _consumer(boot, topic, group, repo: Path, store, redis_url, env, log: Path) -> subprocess.Popen:
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
        str(repo.resolve()),
        "--feature-store",
        store,
        "--metrics-port",
        "0",
        "--health-port",
        "0",
        *(["--redis-url", redis_url] if redis_url else []),
    ]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(log, "w"))  # noqa: SIM115


def _check(procs, work: Path, t0: float, limit_s: float = 900) -> None:
    if any(p.poll() is not None for p in procs):
        raise RuntimeError(f"a consumer exited; see {work}/c*.log")
    if time.monotonic() - t0 > limit_s:
        raise RuntimeError(f"not done in {limit_s:.0f} s")


def _wait(predicate, procs, work: Path, what: str) -> None:
    t0 = time.monotonic()
    while not predicate():
        _check(procs, work, t0, 300)
        time.sleep(0.25)


def _produced(consumer, topic: str) -> int:
    from kafka import TopicPartition

    parts = consumer.partitions_for_topic(topic) or set()
    return sum(consumer.end_offsets([TopicPartition(topic, p) for p in parts]).values()) if parts else 0


def _stable(admin, group: str, members: int) -> bool:
    """The group is Stable with ``members`` members (all joined, partitions assigned)."""
    from kafka.errors import KafkaError

    try:
        d = admin.describe_groups([group]).get(group) or {}
    except KafkaError:
        return False
    state = d.get("group_state") or d.get("state")
    return state == "Stable" and len(d.get("members") or []) == members


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
    redis_url: str | None = typer.Option(
        None, "--redis-url", help="A database for this benchmark only: FLUSHED before each run."
    ),
    bootstrap: str | None = typer.Option(None, "--bootstrap"),
    events: int = typer.Option(100_000, "--events"),
    partitions: int = typer.Option(3, "--partitions"),
    out: Path | None = typer.Option(None, "--out"),  # noqa: B008
) -> None:
    """1 vs 2 `fulcrum ingest` consumers in one group: events/s to drain the same events."""
    from kafka import KafkaAdminClient, KafkaConsumer
    from kafka.admin import NewTopic

    rows = []
    env = child_environment(PYTHONPATH=str(ROOT), FULCRUM_FEATURE_STORE=store)
    if redis_url:
        env["FULCRUM_REDIS_URL"] = redis_url
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        boot, stop_kafka = _kafka(bootstrap, work)
        try:
            for n in (1, 2):
                if redis_url:
                    # the same events every run: without this the idempotency keys of the previous run
                    # would make every event a duplicate (and the rows would already hold them)
                    import redis

                    redis.Redis.from_url(redis_url).flushdb()
                stamp = int(time.time())
                topic, group = f"scale-{n}-{stamp}", f"fulcrum-ingest-scale-{n}-{stamp}"
                admin = KafkaAdminClient(bootstrap_servers=boot)
                admin.create_topics([NewTopic(topic, partitions, 1)])
                probe = KafkaConsumer(bootstrap_servers=boot)
                procs = [
                    _consumer(boot, topic, group, feature_repo, store, redis_url, env, work / f"c{n}-{i}.log")
                    for i in range(n)
                ]
                replay = None
                try:
                    _wait(
                        lambda a=admin, g=group, k=n: _stable(a, g, k),
                        procs,
                        work,
                        "all consumers in the group",
                    )
                    replay = subprocess.Popen(
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
                        ],
                        env=env,
                        cwd=ROOT,
                        stdout=subprocess.DEVNULL,
                    )
                    _wait(lambda c=probe, t=topic: _produced(c, t) > 0, procs, work, "the first record")
                    t0 = time.monotonic()
                    produced_s = None
                    while True:
                        if produced_s is None and replay.poll() is not None:
                            if replay.returncode != 0:
                                raise RuntimeError(f"fulcrum replay failed ({replay.returncode})")
                            produced_s = time.monotonic() - t0
                        if produced_s is not None and _progress(admin, group, topic, probe)[1]:
                            break
                        _check(procs, work, t0)
                        time.sleep(0.25)
                    seconds = time.monotonic() - t0
                finally:
                    for p in [*procs, *([replay] if replay else [])]:
                        p.terminate()
                    for p in [*procs, *([replay] if replay else [])]:
                        p.wait(60)
                    admin.close()
                    probe.close()
                rows.append(
                    {
                        "consumers": n,
                        "events": events,
                        "seconds": seconds,
                        "events_per_s": events / seconds,
                        "produce_seconds": produced_s,
                        "load_1m": os.getloadavg()[0],
                    }
                )
                print(
                    f"{n} consumer(s) in one group, {partitions} partitions, {store}: {events} events "
                    f"drained in "
                    f"{seconds:.1f} s from the first record = {events / seconds:,.0f} events/s (the producer "
                    f"took {produced_s:.1f} s); {_load()}",
                    flush=True,
                )
        finally:
            stop_kafka()
    print(f"two / one consumer: {rows[1]['events_per_s'] / rows[0]['events_per_s']:.2f}x")
    if out:
        out.write_text(json.dumps(rows, indent=2))
