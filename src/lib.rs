//! AgentMesh: the interconnection layer for AI agents.
//!
//! Every agent owns an Ed25519 key whose did:key is its ID ([`identity`]), publishes a signed
//! card ([`card`]) to a node ([`node`]) that stores it durably ([`store`]), and is reached by
//! callers through the typed [`client`]. The `agentmesh` binary is a thin layer over this crate
//! ([`cli`]); the wire contract lives in `docs/protocol.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

pub mod card;
pub mod cli;
pub mod client;
pub mod config;
pub mod discovery;
pub mod encoding;
pub mod events;
pub mod federation;
pub mod handshake;
pub mod identity;
pub mod interop;
pub mod node;
pub mod ratelimit;
pub mod relay;
pub mod store;
pub mod trust;
pub mod tui;
pub mod upstream;

/// The version of this build, as reported by `GET /v1/node` and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
