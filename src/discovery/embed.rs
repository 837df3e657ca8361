//! Embedders: text → unit vector. The built-in one is the model2vec static model shipped in the
//! binary (`agentmesh-model-minilm`); `serve --embedder-dir DIR` loads any model2vec folder
//! (`config.json`, `model.safetensors`, `tokenizer.json`) instead.
//!
//! A static model embeds by tokenizing (WordPiece), looking up one row per token, averaging and
//! normalizing — tens of microseconds per card, no network, no GPU. Each model has an ID derived
//! from its bytes, stored with every vector so a model change triggers re-embedding.

use std::path::Path;

use model2vec_rs::model::StaticModel;

use crate::encoding::sha256_hex;

/// Turns text into a vector of [`Embedder::dim`] floats (unit length, or zero for no tokens).
pub trait Embedder: Send + Sync {
    /// Identifies the model: vectors from different IDs are never compared.
    fn id(&self) -> &str;
    /// Vector length.
    fn dim(&self) -> usize;
    /// Embeds one text.
    fn embed(&self, text: &str) -> Vec<f32>;
}

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum EmbedderError {
    /// A model file is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The files do not form a model2vec model.
    #[error("not a usable model2vec model: {0}")]
    Invalid(String),
}

/// A model2vec static embedding model.
pub struct StaticEmbedder {
    model: StaticModel,
    id: String,
}

impl std::fmt::Debug for StaticEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticEmbedder")
            .field("id", &self.id)
            .finish()
    }
}

impl StaticEmbedder {
    /// The model built into the binary.
    pub fn builtin() -> Self {
        use agentmesh_model_minilm as m;
        Self::from_bytes(
            m::NAME,
            &m::tokenizer_json(),
            &m::model_safetensors(),
            m::CONFIG_JSON,
        )
        .expect("the built-in model is valid (checked by its parity test)")
    }

    /// A model2vec folder.
    pub fn from_dir(dir: &Path) -> Result<Self, EmbedderError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| EmbedderError::Read {
                path: path.display().to_string(),
                source,
            })
        };
        let (tok, model, config) = (
            read("tokenizer.json")?,
            read("model.safetensors")?,
            read("config.json")?,
        );
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        Self::from_bytes(&name, &tok, &model, &config)
    }

    fn from_bytes(
        name: &str,
        tokenizer: &[u8],
        model: &[u8],
        config: &[u8],
    ) -> Result<Self, EmbedderError> {
        let loaded = StaticModel::from_bytes(tokenizer, model, config, None)
            .map_err(|e| EmbedderError::Invalid(format!("{e:#}")))?;
        let mut all = Vec::with_capacity(tokenizer.len() + model.len() + config.len());
        all.extend_from_slice(model);
        all.extend_from_slice(tokenizer);
        all.extend_from_slice(config);
        let id = format!("{name}@{}", &sha256_hex(&all)[..16]);
        Ok(Self { model: loaded, id })
    }
}

impl Embedder for StaticEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.model.dim()
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        self.model.encode_single(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_model_embeds_by_meaning() {
        let e = StaticEmbedder::builtin();
        assert_eq!(e.dim(), 256);
        assert!(e.id().starts_with("minilm-m2v-256-int8@"));
        let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let rain = e.embed("will it rain in Paris tomorrow");
        let weather = e.embed("Forecasts weather for any city");
        let review = e.embed("review my pull request");
        let norm: f32 = rain.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        assert!(cos(&rain, &weather) > cos(&rain, &review) + 0.2);
    }

    #[test]
    fn a_folder_that_is_not_a_model_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tmp");
        let e = StaticEmbedder::from_dir(dir.path()).expect_err("empty folder");
        assert!(e.to_string().contains("tokenizer.json"), "{e}");
    }
}
