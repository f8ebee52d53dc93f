"""`fulcrum evaluate-search`: judged-query evaluation of a bundle's Search against BM25 and
zero-shot MiniLM, in one run.

    fulcrum evaluate-search --bundle artifacts/bundles/LATEST \\
        --queries queries.csv --judgments judgments.csv --out reports/search

Fusion is chosen on the validation queries (sha256 of query_id below --validation-fraction) and
reported on the others ("test") and, for reference, on all. Writes search_eval.json and
search_eval.md into --out; see docs/search.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _parse_fusion(text: str):
    from fulcrum.core.search.fusion import Fusion

    parts = text.split(":")
    idf = parts[-1] == "idf"
    parts = parts[:-1] if idf else parts
    try:
        if parts[0] == "rrf" and len(parts) in (3, 4):
            cov = float(parts[3]) if len(parts) == 4 else 0.0
            return Fusion("rrf", float(parts[2]), float(parts[1]), coverage_weight=cov, coverage_idf=idf)
        if parts[0] == "weighted" and len(parts) in (2, 3):
            cov = float(parts[2]) if len(parts) == 3 else 0.0
            return Fusion("weighted", float(parts[1]), coverage_weight=cov, coverage_idf=idf)
    except ValueError as e:
        raise typer.BadParameter(f"{text!r}: {e}", param_hint="--fusion") from e
    raise typer.BadParameter(
        f"{text!r}: use rrf:K:LEXICAL_WEIGHT[:COVERAGE[:idf]] or weighted:LEXICAL_WEIGHT[:COVERAGE[:idf]]",
        param_hint="--fusion",
    )


def evaluate_search(
    bundle: Annotated[Path, typer.Option(help="Bundle folder (e.g. artifacts/bundles/LATEST).")],
    queries: Annotated[Path, typer.Option(help="queries.csv: query_id, query[, kind].")],
    judgments: Annotated[Path, typer.Option(help="judgments.csv: query_id, item_id, grade.")],
    out: Annotated[Path, typer.Option(help="Folder for search_eval.json and search_eval.md.")],
    validation_fraction: Annotated[
        float, typer.Option(help="Share of queries (by sha256 of query_id) used only to choose the fusion.")
    ] = 0.3,
    fusion: Annotated[
        str | None,
        typer.Option(
            help="Skip tuning: rrf:K:LEXICAL_WEIGHT[:COVERAGE[:idf]] or "
            "weighted:LEXICAL_WEIGHT[:COVERAGE[:idf]]."
        ),
    ] = None,
    personalisation: Annotated[
        float, typer.Option(help="Personalisation weight checked with unrelated users (0 skips the check).")
    ] = 0.05,
    int8: Annotated[
        bool, typer.Option("--int8/--fp32", help="Query encoder graph (as serve's int8_item_encoder).")
    ] = False,
    baselines: Annotated[
        bool, typer.Option("--baselines/--no-baselines", help="Run BM25 and MiniLM too.")
    ] = True,
) -> None:
    """Measure Search on judged queries: NDCG@10, Recall@50, MRR, zero-result rate, judged share, latency."""
    import dataclasses

    import numpy as np

    from fulcrum.core.search.engine import SearchSettings
    from offline.search_eval import report, runner
    from offline.search_eval.judged import JudgedSetError, is_validation, load_judged
    from offline.search_eval.systems import Bm25Baseline, FulcrumSearch, MiniLMBaseline, bundle_items
    from offline.search_eval.tuning import choose_fusion

    if not (bundle / "manifest.json").is_file():
        typer.secho(
            f"error: --bundle {bundle}: no manifest.json (run `fulcrum export` first)", fg="red", err=True
        )
        raise typer.Exit(2)
    if not 0.0 <= validation_fraction < 1.0:
        raise typer.BadParameter(
            f"{validation_fraction} must be in [0, 1)", param_hint="--validation-fraction"
        )
    try:
        judged = load_judged(queries, judgments)
    except JudgedSetError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from None
    validation = [q for q in judged if is_validation(q.query_id, validation_fraction)]
    test = [q for q in judged if not is_validation(q.query_id, validation_fraction)]
    import json

    manifest = json.loads((bundle / "manifest.json").read_text())
    base = SearchSettings(personalisation=personalisation)
    fulcrum = FulcrumSearch(bundle.resolve(), base, int8=int8)
    if fusion is not None:
        settings, grid, how = dataclasses.replace(base, fusion=_parse_fusion(fusion)), [], "given by --fusion"
    else:
        settings, grid = choose_fusion(fulcrum, validation, base)
        how = f"best NDCG@10 of {len(grid)} candidates on {len(validation)} validation queries"
    fulcrum = fulcrum.with_settings(settings)
    chosen = settings.fusion

    items = bundle_items(bundle)
    ids = items["item_id"].to_numpy(dtype=object)
    systems = {fulcrum.name: lambda q: fulcrum.search(q, runner.DEPTH, fresh=True)}
    if baselines:
        bm25 = Bm25Baseline(items["text"].tolist(), ids)
        minilm = MiniLMBaseline(items["text"].tolist(), ids, cache=out / "cache")
        systems[bm25.name] = lambda q: bm25.search(q, runner.DEPTH)
        systems[minilm.name] = lambda q: minilm.search(q, runner.DEPTH)

    result: dict = {
        "bundle_version": manifest.get("version", bundle.name),
        "queries_file": str(queries.name),
        "queries": len(judged),
        "judgments": sum(len(q.grades) for q in judged),
        "validation_fraction": validation_fraction,
        "validation_ids": [q.query_id for q in validation],
        "test_count": len(test),
        "lexical_index": fulcrum.lexical_source,
        "query_encoder": fulcrum.encoder.file,
        "fusion": {
            "chosen": chosen.describe(),
            "how": how,
            "grid": grid,
            "dense_only_for_unknown_words": settings.dense_only_for_unknown_words,
            "serve_env": _serve_env(chosen),
        },
        "splits": {},
        "latency": {},
    }
    per_system = {}
    for name, fn in systems.items():
        fn(judged[0].query)  # warm-up (first ORT / torch call)
        ranked, latency = runner.run(fn, judged)
        per_system[name] = runner.per_query(ranked, judged)
        result["latency"][name] = runner.latency_summary(latency)
    result["per_query"] = {
        name: {q.query_id: {m: metrics[m][i] for m in metrics} for i, q in enumerate(judged)}
        for name, metrics in per_system.items()
    }
    for split_name, subset in (("test (queries not used for tuning)", test), ("all queries", judged)):
        if not subset:
            continue
        pos = [judged.index(q) for q in subset]
        split = {"systems": {}, "paired": {}}
        for name, metrics in per_system.items():
            sub = {m: [v[i] for i in pos] for m, v in metrics.items()}
            split["systems"][name] = {"summary": runner.summarise(sub, subset)}
        me = {m: [v[i] for i in pos] for m, v in per_system[fulcrum.name].items()}
        for name in per_system:
            if name != fulcrum.name:
                other = {m: [v[i] for i in pos] for m, v in per_system[name].items()}
                split["paired"][name] = runner.paired(me, other, subset)
        result["splits"][split_name] = split
    if personalisation > 0:
        from offline.search_eval.personal import random_user_vectors

        users = random_user_vectors(bundle, n_users=5)
        anon = float(np.mean(per_system[fulcrum.name]["ndcg@10"]))
        scores = [
            float(
                np.mean(
                    [runner.ndcg_at_k(fulcrum.search(q.query, 10, user_vec=u), q.grades, 10) for q in judged]
                )
            )
            for u in users
        ]
        result["personalisation"] = {
            "users": len(users),
            "history": 10,
            "weight": personalisation,
            "anonymous_ndcg@10": anon,
            "personalised_ndcg@10": float(np.mean(scores)),
            "per_user": scores,
            "difference": float(np.mean(scores)) - anon,
        }
    j, m = report.write(result, out)
    typer.echo(m.read_text())
    typer.echo(f"wrote {j} and {m}")


def _serve_env(fusion) -> dict[str, str]:
    env = {
        "FULCRUM_SEARCH_FUSION": fusion.method,
        "FULCRUM_SEARCH_LEXICAL_WEIGHT": f"{fusion.lexical_weight:g}",
    }
    env["FULCRUM_SEARCH_COVERAGE_WEIGHT"] = f"{fusion.coverage_weight:g}"
    env["FULCRUM_SEARCH_COVERAGE_IDF"] = "true" if fusion.coverage_idf else "false"
    if fusion.method == "rrf":
        env["FULCRUM_SEARCH_RRF_K"] = f"{fusion.rrf_k:g}"
    return env
