#!/usr/bin/env python3
"""Generate tests/data/embed_parity.json: a parity fixture for the bundled
minilm-m2v-256-int8 static embedding model, computed by the Python reference
implementation (the `model2vec` PyPI package).

Usage (from anywhere; needs only `pip install model2vec`, no torch):

    HF_HUB_OFFLINE=1 python tests/data/make_embed_parity.py [MODEL_DIR] [OUT_JSON]

MODEL_DIR defaults to <repo root>/../shared/models/minilm-m2v-256-int8 and
OUT_JSON to <repo root>/tests/data/embed_parity.json. The fixture was produced
with model2vec 0.10.0 (recorded in the JSON as "model2vec_version").

What model2vec 0.10.0 does in StaticModel.from_pretrained + encode for this
model (read from model2vec/model.py, model2vec/persistence/persistence.py,
model2vec/quantization.py), and what this script reproduces independently:

  Loading
    * model.safetensors holds exactly one tensor, "embeddings", I8, [29525, 256].
      There is no "weights" tensor (per-token SIF weights were multiplied into
      the vectors at distillation time, before quantization) and no "mapping"
      tensor (no vocabulary quantization), so row index == token id.
    * The int8 values are used as-is. Distillation quantized with one global
      scale (max|x| / 127, rint, clip to [-127, 127]), but that scale is NOT
      stored anywhere and is never applied on load: the mean is taken over the
      raw int8 integers (numpy promotes to float64 for the mean, the result is
      stored into a float32 buffer). Because config.json has "normalize": true
      the missing scale cancels out in the L2 normalization.
    * config.json supplies normalize=true and max_length=512.
    * The tokenizer (tokenizer.json, BERT WordPiece, lowercasing BertNormalizer,
      BertPreTokenizer, NO post_processor, vocab 29525 with [PAD]=0, [UNK]=1 and
      no [CLS]/[SEP]/[MASK]) is loaded with tokenizers.Tokenizer.from_file.
      model2vec disables padding (enable_padding(length=0), a no-op) and sets
      truncation to max_length=512 (longest_first, right, stride 0), which is
      also what tokenizer.json itself already says.
    * unk_token_id = token_to_id(tokenizer.model.unk_token) = id of "[UNK]" = 1.
    * median_token_length = int(np.median([len(tok) for tok in vocab])) = 6
      (lengths in code points, "##" prefix included; the vocab size is odd so
      the byte-length upper median used by model2vec-rs is also 6).

  encode(text), per sentence
    1. Character pre-truncation: text = text[: max_length * median_token_length]
       = text[:3072] (Python code points, not bytes).
    2. ids = tokenizer.encode_batch_fast([text], add_special_tokens=False).ids,
       truncated by the tokenizer to at most 512 ids (there is no post-processor,
       so add_special_tokens would not add anything anyway).
    3. Every id equal to unk_token_id (1) is dropped, after the 512 truncation.
    4. Pooling = mean of embeddings[ids] (row i == token id i), over the int8
       values. If no ids remain, the result is the zero vector.
    5. Normalization: v / (||v||_2 + 1e-32) computed in float32 (a zero vector
       stays zero). Output dtype float32.

"token_ids" in the fixture are the ids after step 3 (exactly what is pooled).
"""

from __future__ import annotations

import json
import os
import sys
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from model2vec import StaticModel  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL_DIR = REPO_ROOT / ".." / "shared" / "models" / "minilm-m2v-256-int8"
DEFAULT_OUT = REPO_ROOT / "tests" / "data" / "embed_parity.json"

LONG = (
    "When a maintainer opens a large pull request late on a Friday afternoon, the "
    "reviewers should first read the description, then check that the continuous "
    "integration pipeline passed, run the new tests locally, look carefully for "
    "race conditions in the concurrent code paths, and finally leave clear, "
    "constructive comments so the author can address every concern before merging."
)

# Longer than 3072 characters and than 512 tokens: exercises both the character
# pre-truncation and the tokenizer's 512-token truncation.
OVERLONG = "the quick brown fox jumps over the lazy dog near 42 riverbanks. " * 60

# 4200 characters but only ~1 token per 14 characters: the character
# pre-truncation to 3072 chars (cutting "understanding" mid-word) is what limits
# it, not the 512-token limit (300 tokens untruncated, ~220 after the cut).
CHARCUT = "understanding " * 300

SENTENCES = [
    "will it rain in Paris tomorrow",                         # 0
    "Forecasts weather for any city",                         # 1
    "review my pull request",                                 # 2
    "a",                                                      # 3
    "Invoice #4521: TOTAL due 2026-11-24!",                   # 4
    "Übersetze diesen Satz ins Englische, s'il vous plaît",   # 5
    LONG,                                                     # 6
    "zxqvbnm frobnicates",                                    # 7
    "deploy the 🦀 service ☃ now",                            # 8: chars not in vocab -> [UNK], dropped
    OVERLONG,                                                 # 9: hits the 512-token limit
    CHARCUT,                                                  # 10: hits the 3072-char limit
]

COSINE_PAIRS = [(0, 1), (0, 2), (2, 6)]


def reference_ids(tok: Tokenizer, text: str, max_length: int, median_len: int, unk_id: int | None) -> list[int]:
    """Independent re-implementation of StaticModel.tokenize for a single text."""
    text = text[: max_length * median_len]
    tok = Tokenizer.from_str(tok.to_str())
    tok.no_padding()
    tok.enable_truncation(max_length)
    ids = tok.encode(text, add_special_tokens=False).ids
    return [i for i in ids if i != unk_id]


def main() -> None:
    model_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_MODEL_DIR
    out_path = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_OUT
    model_dir = model_dir.resolve()

    model = StaticModel.from_pretrained(model_dir)
    cfg = json.loads((model_dir / "config.json").read_text())

    # --- independent pieces, to cross-check model2vec's own code path ---
    tensors = load_file(str(model_dir / "model.safetensors"))
    assert set(tensors) == {"embeddings"}, f"unexpected tensors: {sorted(tensors)}"
    emb = tensors["embeddings"]
    assert emb.dtype == np.int8 and emb.shape == (29525, 256), (emb.dtype, emb.shape)
    raw_tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    unk_id = raw_tok.token_to_id("[UNK]")
    assert model.unk_token_id == unk_id == 1
    assert model.weights is None and model.token_mapping is None
    assert model.max_length == cfg["max_length"] == 512
    assert model.normalize is True and cfg["normalize"] is True
    assert model.median_token_length == 6

    cases = []
    vectors = []
    for text in SENTENCES:
        ids = model.tokenize([text[: model.max_length * model.median_token_length]])[0]
        ref = reference_ids(raw_tok, text, model.max_length, model.median_token_length, unk_id)
        assert ids == ref, (text, ids, ref)

        vec = model.encode([text])[0]
        assert vec.dtype == np.float32 and vec.shape == (256,)

        # Manual recomputation: mean of raw int8 rows, L2 normalize.
        if ids:
            manual = emb[np.array(ids, dtype=np.int64)].astype(np.float64).mean(axis=0)
            manual = manual / (np.linalg.norm(manual) + 1e-32)
        else:
            manual = np.zeros(256)
        assert np.max(np.abs(manual - vec)) < 1e-6, (text, np.max(np.abs(manual - vec)))

        full_ids = raw_tok.encode(text[:3072], add_special_tokens=False).ids
        cases.append(
            {
                "text": text,
                "token_ids": [int(i) for i in ids],
                "tokens": [model.tokens[i] for i in ids],
                "unk_dropped": int(sum(1 for i in full_ids[:512] if i == unk_id)),
                "vector": [round(float(x), 7) for x in vec],
            }
        )
        vectors.append(vec.astype(np.float64))

    cosines = []
    for a, b in COSINE_PAIRS:
        va, vb = vectors[a], vectors[b]
        cos = float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))
        cosines.append({"a": a, "b": b, "cosine": round(cos, 7)})

    out = {
        "model": "minilm-m2v-256-int8",
        "model2vec_version": version("model2vec"),
        "tokenizers_version": version("tokenizers"),
        "dim": 256,
        "normalize": True,
        "max_length": 512,
        "median_token_length": model.median_token_length,
        "unk_token_id": unk_id,
        "cases": cases,
        "cosine": cosines,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    # --- sanity report ---
    for i, c in enumerate(cases):
        n = float(np.linalg.norm(vectors[i]))
        print(f"[{i}] ids={len(c['token_ids']):3d} unk_dropped={c['unk_dropped']} norm={n:.7f}  {c['text'][:50]!r}")
    for c in cosines:
        print(f"cos({c['a']},{c['b']}) = {c['cosine']:.7f}")
    for i, v in enumerate(vectors):
        assert abs(np.linalg.norm(v) - 1.0) < 1e-5, (i, np.linalg.norm(v))
    cos = {(c["a"], c["b"]): c["cosine"] for c in cosines}
    assert cos[(0, 1)] > cos[(0, 2)], cos
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
