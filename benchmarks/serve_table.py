"""The tables `fulcrum bench serve` prints from its JSON result (benchmarks/bench_serve.py)."""

from __future__ import annotations

RATIO_LABELS = {
    "recommend_p50_over_bare_forward_p50": "Recommend p50 / bare forward p50",
    "search_p50_over_bare_forward_p50": "Search p50 / bare forward p50",
}


def _f(v, fmt: str = ".2f") -> str:
    return "-" if v is None else format(v, fmt)


def print_table(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from fulcrum.core.tables import print_table as emit

    console = Console(width=130)
    m = r["machine"]
    t = Table(
        title=f"fulcrum bench serve: bundle {r['bundle_version']} ({r['execution_provider']}, "
        f"{r['catalogue_size']} items, features: {r.get('features', '?')}, "
        f"{r.get('warm_users', '?')} warm users, {m['cpus']} cpus, "
        f"load average {m.get('load_average_1m_at_end', float('nan')):.1f})"
    )
    t.add_column("measure", no_wrap=True)
    t.add_column("p50 ms", justify="right")
    t.add_column("p99 ms", justify="right")
    for name, key in (
        ("bare ORT forward (Recommend inputs)", "bare_forward_recommend_ms"),
        ("Recommend, concurrency 1", "recommend_ms"),
        ("bare ORT forward (Search inputs)", "bare_forward_search_ms"),
        ("Search, concurrency 1", "search_ms"),
        ("GetModelInfo (gRPC round-trip floor)", "transport_floor_ms"),
        ("Recommend pipeline in-process, no gRPC", "recommend_pipeline_no_grpc_ms"),
    ):
        t.add_row(name, f"{r[key]['p50']:.3f}", f"{r[key]['p99']:.3f}")
    emit(console, t)

    tp = Table(title="Recommend throughput (server CPU per call = server process CPU over the phase / calls)")
    tp.add_column("load generator", no_wrap=True)
    tp.add_column("concurrency", justify="right")
    for col in ("QPS", "p50 ms", "p99 ms", "server CPU ms/call", "client CPU ms/call", "failed"):
        tp.add_column(col, justify="right")
    for gen in ("python", "ghz"):
        for c, row in r.get("throughput", {}).items():
            x = row.get(gen)
            if x is None:
                continue
            tp.add_row(
                "Python grpc.aio" if gen == "python" else "ghz",
                c,
                _f(x.get("qps"), ".1f"),
                _f(x.get("p50_ms")),
                _f(x.get("p99_ms")),
                _f(x.get("server_cpu_ms_per_call"), ".3f"),
                _f(x.get("client_cpu_ms_per_call"), ".3f"),
                str(x.get("failures", 0)),
            )
    emit(console, tp)

    q = Table(title="ratios")
    q.add_column("measure", no_wrap=True)
    q.add_column("value", justify="right", no_wrap=True)
    q.add_column("bar", no_wrap=True)
    for c, v in r["qps"].items():
        q.add_row(f"Recommend QPS at concurrency {c}", f"{v:.1f}", "")
    for name, v in r["ratios"].items():
        bar = next(
            (
                ("met" if ok else "MISSED") + f" ({b.split(' ', 1)[1]})"
                for b, ok in r["bars"].items()
                if b.startswith(name)
            ),
            "",
        )
        label = RATIO_LABELS.get(name) or name.replace("qps_", "QPS(").replace("_over_QPS(", ") / QPS(") + ")"
        q.add_row(label, f"{v:.2f}", bar)
    q.add_row("failed calls", str(r["failed_calls"]), "")
    for m, v in r["mean_batch_size"].items():
        q.add_row(f"mean batch size over the throughput phases: {m}", f"{v:.1f}", "")
    emit(console, q)
