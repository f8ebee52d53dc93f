"""A tiny randomly initialised BERT with a small WordPiece tokenizer, for tests and demos.

2 layers, hidden 64, 2 heads, intermediate 128; the vocabulary is the special tokens, the given
words and single letters/digits (so any lower-case text tokenizes). Saved like a real checkpoint
(``save_pretrained`` + ``tokenizer.json``) so the real training code loads it unchanged.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def build_tiny_tokenizer(words: Iterable[str]):
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    vocab: dict[str, int] = {}
    for tok in SPECIAL_TOKENS:
        vocab[tok] = len(vocab)
    chars = string.ascii_lowercase + string.digits
    for tok in [*chars, *("##" + c for c in chars), *sorted({w.lower() for w in words if w.isalnum()})]:
        vocab.setdefault(tok, len(vocab))
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    return tok


def build_tiny_bert(out_dir: str | Path, words: Iterable[str] = (), seed: int = 0) -> Path:
    """Write a tiny random BERT checkpoint + tokenizer.json into ``out_dir``; returns it."""
    import torch
    from transformers import BertConfig, BertModel

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tiny_tokenizer(words)
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=128,
    )
    BertModel(cfg).save_pretrained(str(out))
    tok.save(str(out / "tokenizer.json"))
    return out
