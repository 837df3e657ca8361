//! Settings: defaults < TOML config file < `AGENTMESH_*` environment < flags.
//!
//! clap reads flags and their environment variables (flags win); this module supplies the layer
//! underneath — the config file — and the defaults. Everything lives under one home folder when
//! `AGENTMESH_HOME` (or `--home`) is set: `config.toml`, `keys/`, `data/`. Otherwise the
//! platform's folders from `directories` are used.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::store::Durability;

/// Default node URL for clients.
pub const DEFAULT_NODE: &str = "http://127.0.0.1:7070";
/// Default listen address of `serve`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// Where things live on this machine.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The TOML config file (may not exist).
    pub config_file: PathBuf,
    /// The file key store's folder.
    pub keys_dir: PathBuf,
    /// The node's data folder (database, node key).
    pub data_dir: PathBuf,
    /// The last card each of this user's keys published (`<agent_id>.json`): what an edit
    /// starts from when the node holds none.
    pub cards_dir: PathBuf,
}

impl Paths {
    /// Paths under `home`, or the platform defaults when `None`.
    pub fn resolve(home: Option<&Path>) -> Result<Self, ConfigError> {
        if let Some(home) = home {
            return Ok(Self {
                config_file: home.join("config.toml"),
                keys_dir: home.join("keys"),
                data_dir: home.join("data"),
                cards_dir: home.join("cards"),
            });
        }
        let dirs =
            directories::ProjectDirs::from("", "", "agentmesh").ok_or(ConfigError::NoHome)?;
        Ok(Self {
            config_file: dirs.config_dir().join("config.toml"),
            keys_dir: dirs.data_dir().join("keys"),
            data_dir: dirs.data_dir().join("node"),
            cards_dir: dirs.data_dir().join("cards"),
        })
    }
}

/// The config file's contents. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Node URL for client commands.
    pub node: Option<String>,
    /// Default key name.
    pub key: Option<String>,
    /// `keyring`, `file` or `auto`.
    pub keystore: Option<String>,
    /// `serve` settings.
    #[serde(default)]
    pub serve: ServeFileConfig,
}

/// The `[serve]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeFileConfig {
    /// Address to listen on.
    pub listen: Option<String>,
    /// Database folder.
    pub data_dir: Option<PathBuf>,
    /// URL others reach this node at.
    pub public_url: Option<String>,
    /// `full` or `normal`.
    pub durability: Option<Durability>,
    /// Most writes per transaction.
    pub max_batch: Option<usize>,
    /// `pretty` or `json`.
    pub log_format: Option<String>,
    /// A model2vec folder to embed with instead of the built-in model.
    pub embedder_dir: Option<PathBuf>,
    /// `static` (default) or `minilm` (a transformer re-ranks discovery).
    pub embedder: Option<EmbedderKind>,
    /// The sentence-transformers folder of `embedder = "minilm"`.
    pub minilm_dir: Option<PathBuf>,
    /// From how many cards discovery keeps its vectors in an HNSW graph.
    pub ann_min_cards: Option<usize>,
    /// Gateway upstream timeout (`30s`).
    pub upstream_timeout: Option<String>,
    /// Gateway body cap (`1MiB`).
    pub max_body: Option<String>,
    /// Accepted clock skew of signed requests (`60s`).
    pub clock_skew: Option<String>,
    /// The `[serve.trust]` table.
    #[serde(default)]
    pub trust: TrustFileConfig,
    /// Join the Kademlia DHT (`serve --dht`).
    pub dht: Option<bool>,
    /// Serve the web dashboard at `/ui/` (default true; `serve --no-ui`).
    pub ui: Option<bool>,
    /// Where the DHT listens (libp2p multiaddrs).
    #[serde(default)]
    pub dht_listen: Vec<String>,
    /// Seed nodes to bootstrap from.
    #[serde(default)]
    pub seeds: Vec<String>,
    /// Pull anti-entropy interval (`60s`).
    pub sync_interval: Option<String>,
    /// Peers per push round.
    pub fanout: Option<usize>,
    /// Offer records by UDP datagram to peers that read them (`true`).
    pub udp_offers: Option<bool>,
    /// Open connections at most (`4096`).
    pub max_connections: Option<usize>,
    /// A request head must arrive within this; idle connections close after it (`10s`).
    pub header_timeout: Option<String>,
    /// Longest gap while a request body arrives (`10s`).
    pub body_timeout: Option<String>,
    /// Longest a write to a client may make no progress (`30s`).
    pub write_timeout: Option<String>,
    /// Largest request head (`16KiB`).
    pub max_header_bytes: Option<String>,
    /// Largest sync page read from a peer (`4MiB`).
    pub max_sync_page: Option<String>,
    /// Largest database size (`10GiB`); none by default.
    pub max_db_size: Option<String>,
    /// PEM certificate chain to serve HTTPS with.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// PEM CA whose certificates clients must present (mutual TLS).
    pub tls_client_ca: Option<PathBuf>,
}

/// The `[serve.trust]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustFileConfig {
    /// did:keys allowed to report trust events (besides the node's own key).
    #[serde(default)]
    pub admins: Vec<String>,
    /// Half-life of evidence (`7d`).
    pub half_life: Option<String>,
    /// Interval between flushes to SQLite (`5s`).
    pub flush_interval: Option<String>,
    /// Evidence per event kind (`[serve.trust.weights]`: success, failure, timeout,
    /// bad_signature, rate_limit).
    pub weights: Option<crate::trust::Weights>,
}

/// Config trouble.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No home folder could be determined.
    #[error("cannot determine a home directory; set AGENTMESH_HOME")]
    NoHome,
    /// The file exists but cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
}

impl FileConfig {
    /// Loads `path`; a missing file is an empty config. `required` makes a missing file an error
    /// (an explicit `--config`).
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Self::default());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

/// What ranks discovery (`serve --embedder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EmbedderKind {
    /// The static model alone (built in, or `--embedder-dir`): microseconds per card.
    #[default]
    Static,
    /// The static model retrieves candidates; a MiniLM-family transformer (a local
    /// sentence-transformers folder, `--minilm-dir`) re-ranks them.
    Minilm,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_empty_unless_required() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("config.toml");
        assert!(FileConfig::load(&p, false).expect("ok").node.is_none());
        assert!(FileConfig::load(&p, true).is_err());
        std::fs::write(
            &p,
            "node = \"http://x:1\"\n[serve]\nlisten = \"0.0.0.0:1\"\ndurability = \"normal\"\n",
        )
        .expect("write");
        let c = FileConfig::load(&p, true).expect("parse");
        assert_eq!(c.serve.durability, Some(Durability::Normal));
        std::fs::write(
            &p,
            "[serve.trust]\nadmins = [\"did:key:z6MkX\"]\nhalf_life = \"1d\"\n[serve.trust.weights]\nfailure = 2.0\n",
        )
        .expect("write");
        let c = FileConfig::load(&p, true).expect("parse trust table");
        assert_eq!(c.serve.trust.admins, ["did:key:z6MkX"]);
        let w = c.serve.trust.weights.expect("weights");
        assert_eq!(
            (w.failure, w.success),
            (2.0, 1.0),
            "unset weights keep defaults"
        );
        std::fs::write(&p, "[serve]\nlisten_typo = 1\n").expect("write");
        let e = FileConfig::load(&p, true).expect_err("unknown key");
        assert!(e.to_string().contains("listen_typo"), "{e}");
    }
}
