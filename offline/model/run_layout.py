"""The run folder ``fulcrum train`` writes and ``fulcrum export`` reads: one name per file.

::

    run.json             config, metrics, timings, data fingerprint, dims, max lengths
    bert/                the fine-tuned BERT (save_pretrained) + tokenizer.json
    towers.pt            projection + user tower state dicts and their constructor arguments
    ranker.pt            the ranking head module (torch.save)
    text_pooled.npy      pooled BERT text features [N, H] (lets experiments skip the text tower)
    samples.npz          real inputs for the export's parity checks (user histories, rank rows)
    items.parquet        the bundle's item table (train statistics)
    item_embeddings.npy  hybrid item vectors [N, D] (row i <-> items.parquet row i)

plus the hybrid score's files (``fulcrum.core.hybrid.NEIGHBOURS_FILE`` / ``TREND_FILE``) when
the run has one.
"""

from __future__ import annotations

RUN_JSON = "run.json"
BERT_DIR = "bert"
TOKENIZER = f"{BERT_DIR}/tokenizer.json"
TOWERS = "towers.pt"
RANKER_PT = "ranker.pt"
SAMPLES = "samples.npz"
POOLED = "text_pooled.npy"
ITEMS = "items.parquet"
ITEM_EMBEDDINGS = "item_embeddings.npy"
