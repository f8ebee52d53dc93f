"""The bundle files of Search's dense space (names shared by export, serving and evaluation).

Search compares queries with items in the item encoder's own *pooled text space*: the BERT
tower's mean-pooled, L2-normalised output before the projection that training shapes for
recommendation (co-purchase). Measured on the shared Online Retail judged set, the projected
space ranks queries far worse (NDCG@10 0.73 on the validation queries) than the pooled one
(0.92): the projection is trained to put items bought together close, not items a query names.

- ``search_encoder.int8.onnx`` (or ``search_encoder.onnx`` when int8 loses quality):
  input_ids, attention_mask -> embedding float32 [B, H], L2-normalised; same tokenizer.json.
- ``item_search_vectors.npy``: float32 [N, H], row i <-> items.parquet row i.
"""

from __future__ import annotations

SEARCH_ENCODER = "search_encoder.onnx"
SEARCH_ENCODER_INT8 = "search_encoder.int8.onnx"
ITEM_SEARCH_VECTORS = "item_search_vectors.npy"
MANIFEST_KEY = "search_space"


def encoder_file(files) -> str | None:
    """The search encoder graph a bundle lists (int8 preferred), or None."""
    for name in (SEARCH_ENCODER_INT8, SEARCH_ENCODER):
        if name in files:
            return name
    return None
