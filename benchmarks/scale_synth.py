"""Synthetic catalogues for the scale benchmark: realistic titles and the real item tower's vectors.

Titles: a title length drawn from the real titles of the Online Retail data, then that many
words drawn by their frequency in those titles (so lengths, vocabulary and BM25 statistics look
like a real shop's). Vectors: the demo bundle's ONNX item encoder (the real tower) over the
titles. Encoding a million titles with MiniLM on two shared cores takes hours, so beyond
``encode_limit`` titles only a subset is encoded and the rest are *synthesised*: the normalised
mix of two encoded vectors plus Gaussian noise (``perturbed``). The benchmark's table says how
many vectors of each catalogue were encoded and how many synthesised.
"""

from __future__ import annotations

import gzip
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

#: relative weight of the second real vector and of the noise in a synthesised vector
MIX_WEIGHT = 0.5
NOISE_NORM = 0.35


def title_model(csv_gz: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(words, word probabilities, title lengths, prices) of the real titles (one per item)."""
    with gzip.open(csv_gz, "rt", encoding="utf-8", errors="replace") as f:
        raw = pd.read_csv(f, usecols=["StockCode", "Description", "UnitPrice"], dtype=str)
    raw = raw.dropna(subset=["Description"]).drop_duplicates("StockCode")
    titles = [t.strip() for t in raw["Description"].astype(str) if t.strip()]
    words: Counter = Counter()
    lengths = []
    for t in titles:
        parts = t.split()
        lengths.append(len(parts))
        words.update(parts)
    vocab = np.array(sorted(words), dtype=object)
    freq = np.array([words[w] for w in vocab], dtype=np.float64)
    prices = pd.to_numeric(raw["UnitPrice"], errors="coerce").to_numpy()
    prices = prices[np.isfinite(prices) & (prices > 0)]
    return vocab, freq / freq.sum(), np.asarray(lengths, dtype=np.int64), prices


def synth_titles(n: int, csv_gz: Path, seed: int) -> tuple[list[str], np.ndarray]:
    """``n`` titles and prices drawn from the real titles' word and length distributions."""
    vocab, prob, lengths, prices = title_model(csv_gz)
    rng = np.random.default_rng(seed)
    lens = rng.choice(lengths, size=n)
    words = rng.choice(len(vocab), size=int(lens.sum()), p=prob)
    ends = np.cumsum(lens)
    titles = [" ".join(vocab[words[e - k : e]]) for e, k in zip(ends.tolist(), lens.tolist(), strict=True)]
    return titles, rng.choice(prices, size=n)


def encode(bundle: Path, titles: list[str], threads: int, batch: int = 256) -> tuple[np.ndarray, float]:
    """The bundle's fp32 item encoder over ``titles`` -> (vectors [n, D], titles per second)."""
    import json

    from fulcrum.core import bundle_format as bf
    from fulcrum.core.bundle.encoders import TextEncoder
    from fulcrum.core.bundle.sessions import OrtModel

    manifest = json.loads((bundle / bf.MANIFEST).read_text())
    model = OrtModel(bundle / bf.ITEM_ENCODER, "CPUExecutionProvider", threads)
    enc = TextEncoder(model, str(bundle / bf.TOKENIZER), int(manifest["max_lengths"]["text"]))
    out = []
    started = time.perf_counter()
    for i in range(0, len(titles), batch):
        out.append(np.stack(enc(titles[i : i + batch])))
    seconds = time.perf_counter() - started
    return np.concatenate(out).astype(np.float32), len(titles) / max(seconds, 1e-9)


def perturbed(real: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` unit vectors, each normalise(a + MIX_WEIGHT b + noise) of two random real vectors
    a, b with isotropic noise of norm about NOISE_NORM: as clustered as the real space, but not
    copies of it."""
    rng = np.random.default_rng(seed)
    d = real.shape[1]
    out = np.empty((n, d), dtype=np.float32)
    for lo in range(0, n, 65536):
        hi = min(n, lo + 65536)
        a = real[rng.integers(0, len(real), hi - lo)]
        b = real[rng.integers(0, len(real), hi - lo)]
        noise = rng.standard_normal((hi - lo, d)).astype(np.float32) * (NOISE_NORM / np.sqrt(d))
        v = a + MIX_WEIGHT * b + noise
        out[lo:hi] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def catalogue_vectors(
    bundle: Path, titles: list[str], encode_limit: int, threads: int, seed: int
) -> tuple[np.ndarray, dict]:
    """Vectors of ``titles``: the first ``encode_limit`` encoded, the rest synthesised."""
    k = min(len(titles), encode_limit)
    real, rate = encode(bundle, titles[:k], threads)
    rest = perturbed(real, len(titles) - k, seed)
    info = {"encoded": k, "synthesised": len(titles) - k, "encode_rate_per_s": round(rate, 1)}
    return np.concatenate([real, rest]), info
