//! The integration tests, in one binary (ripgrep's layout): each module is one area, run against
//! real nodes on 127.0.0.1:0, the built `agentmesh` binary and its example agent. One binary links
//! the crate (and its embedding model) once instead of once per file.
//!
//! `cargo test --test it` runs them all; `cargo test --test it abuse::` one module.

mod common;

mod a2a_cards;
mod abuse;
mod ann;
mod api_discover;
mod api_register;
mod cli;
mod dashboard;
mod dht;
mod discovery_eval;
mod durability;
mod embed_parity;
mod example_agent;
mod federation;
mod first_contact;
mod generated_docs;
mod httpsig;
mod install_sh;
mod interop;
mod invoke;
mod mcp_client;
mod observability;
mod parsers_prop;
mod relay;
mod rerank;
mod sim;
mod top_tty;
mod trust;
mod tui;
mod vectors;
