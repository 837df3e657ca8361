//! The bytes of AgentMesh's built-in embedding model, `minilm-m2v-256-int8`: a model2vec static
//! model (256 dimensions, int8) distilled from sentence-transformers/all-MiniLM-L6-v2
//! (Apache-2.0; see LICENSE and NOTICE beside this crate, and RECIPE.md / reproduce.sh for how
//! it is rebuilt byte for byte).
//!
//! It lives in its own crate so the 7.5 MB `include_bytes!` is compiled once, not on every edit
//! of the main crate.
#![forbid(unsafe_code)]

/// The model's name.
pub const NAME: &str = "minilm-m2v-256-int8";
/// `model.safetensors`: one I8 tensor `embeddings` of shape [29525, 256].
pub const MODEL_SAFETENSORS: &[u8] = include_bytes!("../model.safetensors");
/// `tokenizer.json`: BERT WordPiece, lowercasing, no special tokens added.
pub const TOKENIZER_JSON: &[u8] = include_bytes!("../tokenizer.json");
/// `config.json`: `normalize: true`, `max_length: 512`.
pub const CONFIG_JSON: &[u8] = include_bytes!("../config.json");
