//! The bytes of AgentMesh's built-in embedding model, `minilm-m2v-256-int8`: a model2vec static
//! model (256 dimensions, int8) distilled from sentence-transformers/all-MiniLM-L6-v2
//! (Apache-2.0; see LICENSE and NOTICE beside this crate, and RECIPE.md / reproduce.sh for how
//! it is rebuilt byte for byte).
//!
//! It lives in its own crate so the model is packed and compiled once, not on every edit of the
//! main crate. The two large files are carried zstd-packed (build.rs) and unpacked on demand:
//! 7.6 MB of int8 weights and 0.4 MB of vocabulary take 5.3 MB of the binary, and unpacking
//! them takes tens of milliseconds, once, when a node starts.
#![forbid(unsafe_code)]

use std::io::Read as _;

/// The model's name.
pub const NAME: &str = "minilm-m2v-256-int8";
/// SHA-256 (lowercase hex) of the raw `model.safetensors`, `tokenizer.json` and `config.json`,
/// in that order: what the model's ID is made of, known without unpacking.
pub const SHA256: &str = env!("AGENTMESH_MODEL_SHA256");
/// `config.json`: `normalize: true`, `max_length: 512`.
pub const CONFIG_JSON: &[u8] = include_bytes!("../config.json");

static MODEL_ZST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/model.safetensors.zst"));
static TOKENIZER_ZST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tokenizer.json.zst"));

/// `model.safetensors`: one I8 tensor `embeddings` of shape [29525, 256].
pub fn model_safetensors() -> Vec<u8> {
    unpack(MODEL_ZST)
}

/// `tokenizer.json`: BERT WordPiece, lowercasing, no special tokens added.
pub fn tokenizer_json() -> Vec<u8> {
    unpack(TOKENIZER_ZST)
}

fn unpack(packed: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ruzstd::decoding::StreamingDecoder::new(packed)
        .expect("the model was packed by this crate's build script")
        .read_to_end(&mut out)
        .expect("the packed model is whole");
    out
}

