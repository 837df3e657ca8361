//! `agentmesh keygen`: create (or `--show`) a named identity.

use serde_json::json;

use super::{Ctx, Outcome, out, out_json};
use crate::identity::{Identity, KeyLocation};

/// `keygen` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Name of the identity (default: --key, or `default`).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Replace an existing key of that name (its identity is lost).
    #[arg(long, conflicts_with = "show")]
    pub force: bool,
    /// Print an existing key's did:key instead of creating one.
    #[arg(long)]
    pub show: bool,
}

pub(super) fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let name = args.name.unwrap_or_else(|| ctx.key.clone());
    let (id, location) = if args.show {
        ctx.load_key(&name)?
    } else {
        let id = Identity::generate();
        let location = ctx.keystore.save(&name, &id, args.force)?;
        (id, location)
    };
    let (store, path) = match &location {
        KeyLocation::Keyring => ("keyring", None),
        KeyLocation::File(p) => ("file", Some(p.display().to_string())),
    };
    if ctx.json {
        out_json(&json!({"name": name, "agent_id": id.id(), "store": store, "path": path}))?;
    } else {
        out(id.id())?;
        if !ctx.quiet && !args.show {
            match &location {
                KeyLocation::Keyring => eprintln!("created key `{name}` in the OS keyring"),
                KeyLocation::File(p) => eprintln!(
                    "created key `{name}` in {} (mode 0600; no OS keyring answered or file store chosen)",
                    p.display()
                ),
            }
        }
    }
    Ok(Outcome::Success)
}
