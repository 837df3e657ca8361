//! Embedders: text → unit vector. The built-in one is the model2vec static model shipped in the
//! binary (`agentmesh-model-minilm`); `serve --embedder-dir DIR` loads any model2vec folder
//! (`config.json`, `model.safetensors`, `tokenizer.json`) instead.
//!
//! A static model embeds by tokenizing (WordPiece), looking up one row per token, averaging and
//! normalizing — tens of microseconds per card, no network, no GPU. Each model has an ID derived
//! from its bytes, stored with every vector so a model change triggers re-embedding.

use std::path::Path;
use std::sync::OnceLock;

use model2vec_rs::model::StaticModel;
use sha2::{Digest as _, Sha256};

/// Dimensions of the built-in model (checked against the loaded model by a test).
pub const BUILTIN_DIM: usize = 256;

/// A model's ID: its name and the first 16 hex digits of the SHA-256 of its weights, then its
/// vocabulary, then its config (hashed in pieces: no joined copy of 8 MB).
pub(crate) fn model_id(name: &str, model: &[u8], tokenizer: &[u8], config: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(model);
    h.update(tokenizer);
    h.update(config);
    let hex = hex::encode(h.finalize());
    format!("{name}@{}", &hex[..16])
}

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
    /// The files do not form a usable model (the message names the file and the problem).
    #[error("not a usable model: {0}")]
    Invalid(String),
}

/// Reads `name` in the model folder `dir`, naming the path when it cannot.
pub(crate) fn read_model_file(dir: &Path, name: &str) -> Result<Vec<u8>, EmbedderError> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|source| EmbedderError::Read {
        path: path.display().to_string(),
        source,
    })
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
        let read = |name: &str| read_model_file(dir, name);
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
            .map_err(|e| EmbedderError::Invalid(format!("model2vec: {e:#}")))?;
        let id = model_id(name, model, tokenizer, config);
        Ok(Self { model: loaded, id })
    }
}

/// The built-in model, loaded when something is first embedded: its ID is known at once (a
/// hash of its files, made when the binary was built), its tokenizer and table — about
/// 18 MB resident, and 64 MB more for a moment while they are parsed — only then. A node that
/// finds every stored card's vector of this model never needs it until a query or a
/// registration arrives.
pub struct LazyBuiltin {
    id: String,
    model: OnceLock<StaticEmbedder>,
}

impl std::fmt::Debug for LazyBuiltin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyBuiltin")
            .field("id", &self.id)
            .field("loaded", &self.model.get().is_some())
            .finish()
    }
}

impl LazyBuiltin {
    /// The built-in model, not loaded yet (its ID was hashed when the binary was built).
    pub fn new() -> Self {
        use agentmesh_model_minilm as m;
        Self {
            id: format!("{}@{}", m::NAME, &m::SHA256[..16]),
            model: OnceLock::new(),
        }
    }

    /// Whether the model has been loaded.
    pub fn is_loaded(&self) -> bool {
        self.model.get().is_some()
    }

    fn model(&self) -> &StaticEmbedder {
        self.model.get_or_init(|| {
            let started = std::time::Instant::now();
            let model = StaticEmbedder::builtin();
            // Unpacking and parsing it freed about 64 MB the allocator would otherwise keep.
            crate::release_free_memory();
            tracing::info!(
                model = self.id,
                millis = started.elapsed().as_millis() as u64,
                "embedding model loaded on first use"
            );
            model
        })
    }
}

impl Default for LazyBuiltin {
    fn default() -> Self {
        Self::new()
    }
}

impl Embedder for LazyBuiltin {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        BUILTIN_DIM
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        self.model().embed(text)
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
    fn the_lazy_builtin_is_the_builtin_loaded_on_first_use() {
        let lazy = LazyBuiltin::new();
        let eager = StaticEmbedder::builtin();
        assert!(!lazy.is_loaded());
        assert_eq!(lazy.id(), eager.id(), "stored vectors are keyed by this ID");
        assert_eq!(lazy.dim(), eager.dim());
        assert!(!lazy.is_loaded(), "the ID and the dimension need no model");
        let text = "translate a document into French";
        assert_eq!(lazy.embed(text), eager.embed(text));
        assert!(lazy.is_loaded());
    }

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
