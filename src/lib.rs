//! AgentMesh: the interconnection layer for AI agents.
//!
//! Every agent owns an Ed25519 key whose did:key is its ID ([`identity`]), publishes a signed
//! card ([`card`]) to a node that stores it durably, and is called with signed requests
//! ([`handshake`]); agents behind NAT hold a relay tunnel ([`relay`]). The wire contract lives in
//! `docs/protocol.md`.
//!
//! With the default `node` feature the crate is also the node (`node`, `store`, `discovery`,
//! `trust`, `federation`), its typed `client`, and the `agentmesh` binary's commands (`cli`,
//! `tui`). Without it — `agentmesh = { version = "0.1", default-features = false }` — it is the
//! protocol library alone, for agents written in Rust: those five modules over a handful of
//! pure-Rust crates (ed25519-dalek, serde_json, a JCS canonicalizer, sha2), with no HTTP server,
//! database, embedding model, terminal UI or OS keyring.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

// The protocol library.
pub mod card;
pub mod encoding;
pub mod handshake;
pub mod httpsig;
pub mod identity;
pub mod relay;
pub mod wire;

// The node, the client and the CLI.
#[cfg(feature = "node")]
pub mod cli;
#[cfg(feature = "node")]
pub mod client;
#[cfg(feature = "node")]
pub mod config;
#[cfg(feature = "node")]
pub mod dht;
#[cfg(feature = "node")]
pub mod discovery;
#[cfg(feature = "node")]
pub mod events;
#[cfg(feature = "node")]
pub mod federation;
#[cfg(feature = "node")]
pub mod interop;
#[cfg(feature = "node")]
pub mod node;
#[cfg(feature = "node")]
pub mod ratelimit;
#[cfg(feature = "node")]
pub mod sim;
#[cfg(feature = "node")]
pub mod store;
#[cfg(feature = "node")]
pub mod trust;
#[cfg(feature = "node")]
pub mod tui;
#[cfg(feature = "node")]
pub mod upstream;

/// What hands the memory the allocator holds free back to the OS (for the calling thread): set
/// by the binary, whose allocator it is (mimalloc keeps what a burst of start-up allocations
/// freed — 64 MB of the embedding model's unpacking and parsing — and this crate forbids the
/// `unsafe` its call needs). The node calls it after those bursts.
static RELEASE_FREE_MEMORY: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets what [`release_free_memory`] calls (once; later calls are ignored).
pub fn set_release_free_memory(release: fn()) {
    let _ = RELEASE_FREE_MEMORY.set(release);
}

/// Hands the allocator's free memory back to the OS, if the binary said how.
pub fn release_free_memory() {
    if let Some(release) = RELEASE_FREE_MEMORY.get() {
        release();
    }
}

/// The version of this build, as reported by `GET /v1/node` and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
