//! The approximate nearest-neighbour graph used by large indexes: an HNSW graph over the
//! cards' int8 vectors, from the `usearch` crate (a maintained C++ library with Rust bindings;
//! incremental inserts and deletes, save and load).
//!
//! Keys are the cards' version sequence numbers, which stay the same across restarts, so the
//! graph can be saved beside the database and reloaded in well under a second instead of
//! being rebuilt (minutes at a million cards). The cosine metric over the int8 components is
//! exactly the similarity the index computes (each vector has one scale, and cosine ignores
//! it).
//!
//! The saved form is two files in one folder: the graph (`usearch`'s format) and a sidecar
//! naming the format, the dimension, the model, the graph's SHA-256 and every key in it. A
//! graph whose sidecar does not match is rebuilt, never trusted: the C++ loader does not expect
//! a damaged file.

use std::path::{Path, PathBuf};

use parking_lot::{Condvar, Mutex};
use sha2::{Digest, Sha256};
use usearch::{IndexOptions, MetricKind, ScalarKind};

/// Neighbours per node (M; twice as many on the bottom layer). On the bench's set at 100k
/// cards the graph's own recall@10 was 0.90 with 16, 0.94 with 24 and 0.96 with 32, each
/// step adding 16 bytes a card per neighbour pair; 16 keeps a million cards in ~500 MB.
pub const CONNECTIVITY: usize = 16;
/// Candidate list while inserting (efConstruction).
pub const EXPANSION_ADD: usize = 128;
/// Candidate list while searching (ef), at least the number of results asked for. At a
/// million cards (benches/discover.rs, one graph) recall@10 was 0.948 with 200, 0.960 with 240
/// and 0.967 with 280, p99 3.7 ms at both; 200 measured 0.947–0.952 across graph builds, too
/// close to the 0.95 asked for, so 240.
pub const EXPANSION_SEARCH: usize = 240;
/// Concurrent callers the graph keeps a search context for; more wait for one.
const CONTEXTS: usize = 16;
/// The sidecar's first line.
const MAGIC: &str = "agentmesh-ann-v1";
const GRAPH: &str = "graph.usearch";
const SIDECAR: &str = "graph.keys";

/// Why the graph could not be built, saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum AnnError {
    /// The library refused (out of memory, a bad file…).
    #[error("vector graph: {0}")]
    Graph(String),
    /// Reading or writing the saved graph failed.
    #[error("vector graph file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The saved graph is not the one its sidecar describes, or not for this model.
    #[error("saved vector graph does not match: {0}")]
    Stale(String),
}

fn graph_err(e: impl std::fmt::Display) -> AnnError {
    AnnError::Graph(e.to_string())
}

/// An HNSW graph of int8 vectors keyed by card version.
pub struct Ann {
    graph: usearch::Index,
    dim: usize,
    /// Free search contexts (usearch allots one per concurrent caller).
    free: Mutex<usize>,
    freed: Condvar,
    /// Changes since the last save.
    dirty: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Ann {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ann")
            .field("dim", &self.dim)
            .field("len", &self.len())
            .finish()
    }
}

/// A held search context, given back on drop.
struct Context<'a>(&'a Ann);

impl Drop for Context<'_> {
    fn drop(&mut self) {
        *self.0.free.lock() += 1;
        self.0.freed.notify_one();
    }
}

impl Ann {
    /// An empty graph for `dim`-component vectors with room for `capacity`.
    pub fn new(dim: usize, capacity: usize) -> Result<Self, AnnError> {
        let graph = usearch::Index::new(&IndexOptions {
            dimensions: dim,
            metric: MetricKind::Cos,
            quantization: ScalarKind::I8,
            connectivity: CONNECTIVITY,
            expansion_add: EXPANSION_ADD,
            expansion_search: EXPANSION_SEARCH,
            multi: false,
        })
        .map_err(graph_err)?;
        let ann = Self {
            graph,
            dim,
            free: Mutex::new(Self::contexts()),
            freed: Condvar::new(),
            dirty: std::sync::atomic::AtomicU64::new(0),
        };
        ann.reserve(capacity)?;
        Ok(ann)
    }

    /// Search contexts: enough for every rayon worker to insert at once during a build.
    fn contexts() -> usize {
        CONTEXTS.max(rayon::current_num_threads())
    }

    fn reserve(&self, capacity: usize) -> Result<(), AnnError> {
        self.graph
            .reserve_capacity_and_threads(capacity.max(1024), Self::contexts())
            .map_err(graph_err)
    }

    fn context(&self) -> Context<'_> {
        let mut free = self.free.lock();
        while *free == 0 {
            self.freed.wait(&mut free);
        }
        *free -= 1;
        Context(self)
    }

    /// Vectors in the graph.
    pub fn len(&self) -> usize {
        self.graph.size()
    }

    /// True when the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the graph uses (vectors and links). Not while a [`super::GraphWork`] runs: the
    /// library walks every node, and one being inserted is not there yet (callers ask between
    /// batches: benches, after a load).
    ///
    /// The library's own count includes the unused end of its arenas, which double in size as
    /// the graph grows (the last one can be half empty). Those pages are mapped but never
    /// touched, so they take no memory until used; they are left out here, which makes this
    /// the graph's share of the process's resident memory.
    pub fn memory_bytes(&self) -> usize {
        let m = self.graph.memory_stats();
        self.graph
            .memory_usage()
            .saturating_sub(m.graph_wasted + m.graph_reserved)
            .saturating_sub(m.vectors_wasted + m.vectors_reserved)
    }

    /// Changes since the graph was loaded or last saved (a new graph counts its inserts).
    pub fn changes(&self) -> u64 {
        self.dirty.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets the search breadth (ef).
    pub fn set_expansion(&self, ef: usize) {
        self.graph.change_expansion_search(ef);
    }

    /// True if `key` is in the graph.
    pub fn contains(&self, key: u64) -> bool {
        self.graph.contains(key)
    }

    /// Makes room for `more` inserts, doubling the graph's room when it grows. Growing must
    /// not race anything else using the graph, searches included: callers hold it exclusively.
    pub fn reserve_for(&self, more: usize) -> Result<(), AnnError> {
        let need = self.graph.size() + more;
        if need > self.graph.capacity() {
            self.reserve(need.max(self.graph.capacity() * 2))?;
        }
        Ok(())
    }

    /// Inserts `v` under `key` into room reserved beforehand ([`Ann::reserve_for`]). Inserts
    /// may run in parallel with each other and with searches.
    pub fn insert_reserved(&self, key: u64, v: &[i8]) -> Result<(), AnnError> {
        if self.graph.size() >= self.graph.capacity() {
            return Err(AnnError::Graph("no room reserved for an insert".into()));
        }
        self.insert(key, v)
    }

    fn insert(&self, key: u64, v: &[i8]) -> Result<(), AnnError> {
        debug_assert_eq!(v.len(), self.dim);
        let _ctx = self.context();
        self.graph.add(key, v).map_err(graph_err)?;
        self.dirty
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Removes `key` (nothing if absent).
    pub fn remove(&self, key: u64) -> Result<(), AnnError> {
        if self.graph.remove(key).map_err(graph_err)? > 0 {
            self.dirty
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// The vector stored under `key` into `out`; false if there is none.
    pub fn get(&self, key: u64, out: &mut [i8]) -> bool {
        self.graph.get(key, out).is_ok_and(|n| n == 1)
    }

    /// Up to `count` keys nearest to `q` among those `keep` accepts, nearest first.
    pub fn search(&self, q: &[i8], count: usize, keep: impl Fn(u64) -> bool) -> Vec<u64> {
        if count == 0 || self.is_empty() {
            return Vec::new();
        }
        let _ctx = self.context();
        match self.graph.filtered_search(q, count, keep) {
            Ok(m) => m.keys,
            Err(e) => {
                tracing::warn!(error = %e, "vector graph search failed");
                Vec::new()
            }
        }
    }

    /// A graph of `items` (key, vector), inserted in parallel.
    pub fn build<'a>(
        dim: usize,
        items: impl rayon::iter::ParallelIterator<Item = (u64, &'a [i8])>,
        capacity: usize,
    ) -> Result<Self, AnnError> {
        // Room for growth, so the first inserts after a build do not reallocate the graph.
        let ann = Self::new(dim, capacity + capacity / 8)?;
        items.try_for_each(|(key, v)| ann.insert(key, v))?;
        Ok(ann)
    }

    /// Writes the graph and its sidecar (every key in `keys`) to `dir`, replacing what was
    /// there only once both are complete.
    pub fn save(&self, dir: &Path, model: &str, keys: &[u64]) -> Result<(), AnnError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| AnnError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let tmp_graph = dir.join(format!("{GRAPH}.tmp"));
        let before = self.changes();
        self.graph.save(utf8(&tmp_graph)?).map_err(graph_err)?;
        let digest = sha256_file(&tmp_graph)?;
        let mut bytes = format!(
            "{MAGIC}\ndim {}\nmodel {model}\nsha256 {digest}\nkeys {}\n",
            self.dim,
            keys.len()
        )
        .into_bytes();
        for k in keys {
            bytes.extend_from_slice(&k.to_le_bytes());
        }
        let tmp_side = dir.join(format!("{SIDECAR}.tmp"));
        write_synced(&tmp_side, &bytes).map_err(io(&tmp_side))?;
        let file = std::fs::File::open(&tmp_graph).map_err(io(&tmp_graph))?;
        file.sync_all().map_err(io(&tmp_graph))?;
        // The sidecar names the graph's digest, so a crash between the two renames leaves a
        // pair that does not match, which the next start rebuilds.
        std::fs::rename(&tmp_graph, dir.join(GRAPH)).map_err(io(&tmp_graph))?;
        std::fs::rename(&tmp_side, dir.join(SIDECAR)).map_err(io(&tmp_side))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        self.dirty
            .fetch_sub(before, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Loads a graph saved by [`Ann::save`] for `model`, with the keys it holds. `None` when
    /// nothing was saved.
    pub fn open(dir: &Path, dim: usize, model: &str) -> Result<Option<(Self, Vec<u64>)>, AnnError> {
        let side_path = dir.join(SIDECAR);
        let side = match std::fs::read(&side_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(AnnError::Io {
                    path: side_path,
                    source,
                });
            }
        };
        let (header, keys) = parse_sidecar(&side)?;
        if header.dim != dim || header.model != model {
            return Err(AnnError::Stale(format!(
                "saved for {} ({} dimensions), the index uses {model} ({dim})",
                header.model, header.dim
            )));
        }
        let graph_path = dir.join(GRAPH);
        let digest = sha256_file(&graph_path)?;
        if digest != header.sha256 {
            return Err(AnnError::Stale(format!(
                "{} is not the graph its sidecar describes",
                graph_path.display()
            )));
        }
        let ann = Self::new(dim, 0)?;
        ann.graph.load(utf8(&graph_path)?).map_err(graph_err)?;
        if ann.graph.dimensions() != dim || ann.len() != keys.len() {
            return Err(AnnError::Stale(format!(
                "the graph holds {} vectors of {} dimensions, its sidecar {} of {dim}",
                ann.len(),
                ann.graph.dimensions(),
                keys.len()
            )));
        }
        // Room for the contexts and for growth (a loaded graph is exactly full).
        ann.reserve(ann.len() + ann.len() / 8)?;
        Ok(Some((ann, keys)))
    }
}

struct Header {
    dim: usize,
    model: String,
    sha256: String,
}

/// The sidecar: five text lines, then the keys as little-endian u64.
fn parse_sidecar(b: &[u8]) -> Result<(Header, Vec<u64>), AnnError> {
    let bad = |what: &str| AnnError::Stale(format!("sidecar: {what}"));
    let mut rest = b;
    let mut line = || -> Result<String, AnnError> {
        let end = rest
            .iter()
            .position(|c| *c == b'\n')
            .filter(|e| *e <= 512)
            .ok_or_else(|| bad("truncated header"))?;
        let l = std::str::from_utf8(&rest[..end])
            .map_err(|_| bad("header is not UTF-8"))?
            .to_string();
        rest = &rest[end + 1..];
        Ok(l)
    };
    if line()? != MAGIC {
        return Err(bad("unknown format"));
    }
    let mut field = |name: &str| -> Result<String, AnnError> {
        line()?
            .strip_prefix(name)
            .and_then(|v| v.strip_prefix(' '))
            .map(str::to_string)
            .ok_or_else(|| bad(&format!("no {name}")))
    };
    let dim = field("dim")?.parse().map_err(|_| bad("dim"))?;
    let model = field("model")?;
    let sha256 = field("sha256")?;
    let count: usize = field("keys")?.parse().map_err(|_| bad("keys"))?;
    if rest.len() != count.checked_mul(8).ok_or_else(|| bad("keys"))? {
        return Err(bad("key count does not match its length"));
    }
    let keys = rest
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunks")))
        .collect();
    Ok((Header { dim, model, sha256 }, keys))
}

/// The library takes paths as UTF-8 strings.
fn utf8(path: &Path) -> Result<&str, AnnError> {
    path.to_str()
        .ok_or_else(|| AnnError::Graph(format!("{} is not a UTF-8 path", path.display())))
}

fn sha256_file(path: &Path) -> Result<String, AnnError> {
    use std::io::Read;
    let io = |source| AnnError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
