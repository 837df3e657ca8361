//! The transformer option of discovery (`serve --embedder minilm`): a BERT-family sentence
//! encoder — all-MiniLM-L6-v2 and its kin — run on the CPU by candle, from a local folder of
//! sentence-transformers files. It re-ranks the candidates the static model retrieves; it is
//! never downloaded: the folder is the user's (docs/protocol.md §6, Re-ranking).
//!
//! The folder holds what `SentenceTransformer.save()` writes: `config.json` (a BERT config),
//! `model.safetensors`, `tokenizer.json`, and optionally `sentence_bert_config.json`
//! (`max_seq_length`) and `1_Pooling/config.json`, which must ask for mean pooling — the only
//! pooling done here. Vectors are mean-pooled over the real tokens and normalized, as
//! sentence-transformers does.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde_json::Value;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::embed::{Embedder, EmbedderError, model_id, read_model_file};

/// Longest input in tokens when the folder does not say (BERT's position table is 512).
const DEFAULT_MAX_TOKENS: usize = 256;

/// A sentence encoder loaded from a sentence-transformers folder.
pub struct TransformerEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    id: String,
    dim: usize,
}

impl std::fmt::Debug for TransformerEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformerEmbedder")
            .field("id", &self.id)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

fn invalid(what: impl std::fmt::Display) -> EmbedderError {
    EmbedderError::Invalid(what.to_string())
}

/// The folder's tensors as f32, each linear layer's weight (`[out, in]`) stored transposed —
/// column-major — behind a view of the same shape. candle computes a linear layer as
/// `x · weightᵀ`; with the weight row-major the matrix library first repacks the whole weight,
/// element by element, on every call, which for a query of a dozen tokens costs twice the
/// arithmetic (a query took 10.7 ms, see benches/results/2026-12-06.md). Stored this way,
/// `weightᵀ` is contiguous and used in place.
fn weights_for_queries(bytes: &[u8]) -> candle_core::Result<VarBuilder<'static>> {
    let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)?
        .into_iter()
        .map(|(name, t)| {
            let t = t.to_dtype(DType::F32)?;
            let t = if t.rank() == 2 && !name.contains("embeddings") {
                t.t()?.contiguous()?.t()?
            } else {
                t
            };
            Ok((name, t))
        })
        .collect::<candle_core::Result<std::collections::HashMap<_, _>>>()?;
    Ok(VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu))
}

impl TransformerEmbedder {
    /// Loads the model in `dir` (about 90 MB of float weights for all-MiniLM-L6-v2).
    pub fn from_dir(dir: &Path) -> Result<Self, EmbedderError> {
        let read = |name: &str| read_model_file(dir, name);
        let optional_json = |name: &str| -> Result<Option<Value>, EmbedderError> {
            match std::fs::read(dir.join(name)) {
                Ok(b) => serde_json::from_slice(&b)
                    .map(Some)
                    .map_err(|e| invalid(format!("{name}: {e}"))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(EmbedderError::Read {
                    path: dir.join(name).display().to_string(),
                    source,
                }),
            }
        };
        let (config_bytes, weights, tok) = (
            read("config.json")?,
            read("model.safetensors")?,
            read("tokenizer.json")?,
        );
        let raw: Value = serde_json::from_slice(&config_bytes)
            .map_err(|e| invalid(format!("config.json: {e}")))?;
        match raw.get("model_type").and_then(Value::as_str) {
            Some("bert") | None => {}
            Some(other) => {
                return Err(invalid(format!(
                    "config.json: model_type {other:?} is not a BERT encoder"
                )));
            }
        }
        let config: Config = serde_json::from_value(raw.clone())
            .map_err(|e| invalid(format!("config.json: {e}")))?;
        let dim = raw
            .get("hidden_size")
            .and_then(Value::as_u64)
            .ok_or_else(|| invalid("config.json: no hidden_size"))? as usize;
        if let Some(p) = optional_json("1_Pooling/config.json")? {
            let mean = p.get("pooling_mode_mean_tokens").and_then(Value::as_bool);
            let others = [
                "pooling_mode_cls_token",
                "pooling_mode_max_tokens",
                "pooling_mode_mean_sqrt_len_tokens",
            ]
            .iter()
            .any(|k| p.get(*k).and_then(Value::as_bool) == Some(true));
            if mean != Some(true) || others {
                return Err(invalid(
                    "1_Pooling/config.json: only mean pooling is supported",
                ));
            }
        }
        let max_tokens = optional_json("sentence_bert_config.json")?
            .and_then(|c| c.get("max_seq_length").and_then(Value::as_u64))
            .map_or(DEFAULT_MAX_TOKENS, |n| n as usize)
            .clamp(8, 512);
        let mut tokenizer =
            Tokenizer::from_bytes(&tok).map_err(|e| invalid(format!("tokenizer.json: {e}")))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..TruncationParams::default()
            }))
            .map_err(|e| invalid(format!("tokenizer.json: {e}")))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "transformer".into());
        let id = model_id(&name, &weights, &tok, &config_bytes);
        let vb = weights_for_queries(&weights)
            .map_err(|e| invalid(format!("model.safetensors: {e}")))?;
        drop(weights);
        let model =
            BertModel::load(vb, &config).map_err(|e| invalid(format!("model.safetensors: {e}")))?;
        Ok(Self {
            model,
            tokenizer,
            id,
            dim,
        })
    }

    /// Embeds several texts in one forward pass (padded to the longest; callers batching many
    /// texts gain by grouping similar lengths). Unit vectors, one per text.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedderError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| invalid(format!("tokenize: {e}")))?;
        let len = enc.first().map_or(0, |e| e.get_ids().len());
        let n = enc.len();
        let (mut ids, mut mask) = (Vec::with_capacity(n * len), Vec::with_capacity(n * len));
        for e in &enc {
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let dev = &Device::Cpu;
            let ids = Tensor::from_vec(ids, (n, len), dev)?;
            let mask = Tensor::from_vec(mask, (n, len), dev)?;
            let types = ids.zeros_like()?;
            let out = self.model.forward(&ids, &types, Some(&mask))?; // (n, len, dim)
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (n, len, 1)
            let summed = out.broadcast_mul(&m)?.sum(1)?; // (n, dim)
            let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?; // (n, 1)
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        };
        run().map_err(|e| invalid(format!("forward pass: {e}")))
    }
}

impl Embedder for TransformerEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        match self.embed_batch(&[text]) {
            Ok(mut v) if v.len() == 1 => v.swap_remove(0),
            Ok(_) | Err(_) => {
                // Not reachable from input: the tokenizer accepts any text and the shapes are
                // built here. A zero vector matches nothing.
                tracing::error!(model = %self.id, "transformer embedding failed");
                vec![0.0; self.dim]
            }
        }
    }
}
