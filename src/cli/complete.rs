//! Shell completion that knows this user's keys and the node's agents.
//!
//! The scripts `agentmesh completions` prints are clap_complete's dynamic registrations: at
//! each <TAB> the shell runs `AGENTMESH_COMPLETE=<shell> agentmesh -- <words>`, which [`run`]
//! answers before anything else happens. Subcommands and flags come from the clap definitions
//! as always; `--key` offers the key names [`KeyStore::names`] lists, and the agent of
//! `invoke`, `show` and `trust show|report` offers `@keyname`s and the card names (or IDs,
//! once the word reads as one) that the node's `GET /v1/resolve?prefix=true` returns. The node
//! is asked with a short deadline, so an unreachable node costs a pause, never a hung prompt.

use std::ffi::OsStr;
use std::time::Duration;

use clap::CommandFactory as _;
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::{CompleteEnv, Shells};

use super::Cli;
use crate::config::{DEFAULT_NODE, FileConfig, Paths};
use crate::identity::{KeyStore, KeyStoreKind};

/// The variable that switches the binary into completion mode.
pub const VAR: &str = "AGENTMESH_COMPLETE";

/// How long a completion waits for the node.
const NODE_DEADLINE: Duration = Duration::from_millis(700);

/// Answers a completion request and exits, when `AGENTMESH_COMPLETE` asks for one.
pub fn run() {
    CompleteEnv::with_factory(Cli::command)
        .var(VAR)
        .bin("agentmesh")
        .completer("agentmesh")
        .complete();
}

/// The registration script for `shell`, as `AGENTMESH_COMPLETE=<shell> agentmesh` prints it.
pub fn registration(shell: &str) -> Vec<u8> {
    let mut buf = Vec::new();
    let shells = Shells::builtins();
    let Some(completer) = shells.completer(shell) else {
        return buf;
    };
    // Writing to a Vec cannot fail.
    let _ = completer.write_registration(VAR, "agentmesh", "agentmesh", "agentmesh", &mut buf);
    if shell == "zsh" {
        // Installed as `_agentmesh` on $fpath, zsh runs the file as the completion function
        // itself: define the completer, then answer this first <TAB> too.
        buf.extend_from_slice(
            b"if [ \"$funcstack[1]\" = \"_agentmesh\" ]; then\n    _clap_dynamic_completer_agentmesh \"$@\"\nfi\n",
        );
    }
    buf
}

/// The paths, config and key store a completion sees: `AGENTMESH_HOME` and the config file
/// (flags on the line being completed are not parsed yet).
fn local() -> Option<(Paths, FileConfig)> {
    let home = std::env::var_os("AGENTMESH_HOME").map(std::path::PathBuf::from);
    let paths = Paths::resolve(home.as_deref()).ok()?;
    let file = FileConfig::load(&paths.config_file, false).unwrap_or_default();
    Some((paths, file))
}

fn key_names() -> Vec<String> {
    local()
        .map(|(paths, _)| KeyStore::new(KeyStoreKind::File, paths.keys_dir).names())
        .unwrap_or_default()
}

/// `--key` values: this user's key names.
pub fn keys(current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    key_names()
        .into_iter()
        .filter(|n| n.starts_with(current.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

/// Agent values: `@keyname`s, then the node's live agents whose name (or ID) starts with the
/// word.
pub fn agents(current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let mut out: Vec<CompletionCandidate> = key_names()
        .into_iter()
        .map(|n| format!("@{n}"))
        .filter(|n| n.starts_with(current.as_ref()))
        .map(|n| CompletionCandidate::new(n).help(Some("my identity".into())))
        .collect();
    if current.starts_with('@') {
        return out;
    }
    let mut found = node_agents(&current);
    found.sort();
    for (value, help) in found {
        if !out.iter().any(|c| c.get_value() == value.as_str()) {
            out.push(CompletionCandidate::new(value).help(Some(help.into())));
        }
    }
    out
}

/// `(value, help)` for each live agent the node says starts with `word`: its name, or its ID
/// (as typed: with or without `did:key:`) when the word is an ID's start or the name is
/// shared.
fn node_agents(word: &str) -> Vec<(String, String)> {
    let Some((_, file)) = local() else {
        return Vec::new();
    };
    let node = std::env::var("AGENTMESH_NODE")
        .ok()
        .or(file.node)
        .and_then(|n| super::addr::node_url(&n).ok())
        .unwrap_or_else(|| DEFAULT_NODE.to_string());
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let Ok(client) = crate::client::Client::new(&node, NODE_DEADLINE) else {
        return Vec::new();
    };
    let Ok(Ok(found)) =
        rt.block_on(async { tokio::time::timeout(NODE_DEADLINE, client.complete(word)).await })
    else {
        return Vec::new();
    };
    let word_lower = word.to_lowercase();
    found
        .matches
        .iter()
        .map(|a| {
            let by_name = a.name.to_lowercase().starts_with(&word_lower)
                && found.matches.iter().filter(|b| b.name == a.name).count() == 1;
            if by_name {
                (a.name.clone(), crate::identity::short_id(&a.agent_id))
            } else if word.starts_with("did:") {
                (a.agent_id.clone(), a.name.clone())
            } else {
                let id = a.agent_id.trim_start_matches("did:key:").to_string();
                (id, a.name.clone())
            }
        })
        .collect()
}
