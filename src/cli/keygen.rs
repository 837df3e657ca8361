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
        if args.force
            && !ctx.quiet
            && let Ok((old, _)) = ctx.keystore.load(&name)
        {
            warn_if_card_is_live(ctx, &name, old.id());
        }
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

/// Before a key is replaced: a live card signed by it could never be revoked or updated again.
/// Asked of the node with a short timeout; an unreachable node is no reason to stop.
fn warn_if_card_is_live(ctx: &Ctx, name: &str, old_id: &str) {
    let Ok(client) = ctx.client(std::time::Duration::from_secs(3)) else {
        return;
    };
    let Ok(rt) = super::runtime() else {
        return;
    };
    if rt.block_on(client.get_agent(old_id)).is_ok() {
        eprintln!(
            "warning: key `{name}` ({old_id}) has a live card on {}; once the key is replaced that card can never be revoked or updated.\n\
             hint: revoke it first with `agentmesh register --revoke --key {name}`",
            client.base()
        );
    }
}
