"""`fulcrum evaluate --bundle`: the bundle against the baselines, the ranking ablation, the
accuracy/tail trade-off of the re-ranker, plots, report.md and metrics.json next to the bundle.

``bundle_model.py`` runs a bundle the way serving does (ONNX Runtime, the same catalogue and
encoders), ``fulcrum/core/rerank/tail_boost.py`` and ``diversity.py`` (MMR) are the re-rank rules
swept by ``tradeoff.py``,
``plots.py`` draws the figures, ``markdown.py`` writes the report, ``run.py`` ties them together.
"""
