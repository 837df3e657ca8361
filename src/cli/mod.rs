//! The command line: clap definitions and thin adapters from flags to core calls.
//!
//! Flow: [`main`] parses the arguments (usage errors exit 2 through clap), sets up logging on
//! stderr, resolves paths and the config file, runs the subcommand, and turns its result into
//! an exit code: 0 success, 1 a clean negative (nothing found, call rejected), 2 an error —
//! printed as `error:` with `caused by:` lines and a hint where one helps. A closed stdout
//! (`agentmesh … | head`) exits 0.

mod addr;
mod complete;
mod connect;
mod discover;
mod everyday;
mod examples;
mod gen_docs;
mod invoke;
mod keygen;
mod register;
mod serve;
mod sim;
mod top;
mod trust;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

pub use gen_docs::{completion_files, man_pages};

use crate::client::{Client, ClientError};
use crate::config::{DEFAULT_NODE, FileConfig, Paths};
use crate::identity::{Identity, KeyLocation, KeyStore, KeyStoreError, KeyStoreKind};
use crate::interop::InteropError;

/// AgentMesh: signed identities, discovery and invocation for AI agents.
#[derive(Debug, Parser)]
#[command(
    name = "agentmesh",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = examples::MAIN
)]
pub struct Cli {
    /// Node to talk to (a URL, host:port, or a port on 127.0.0.1).
    #[arg(long, global = true, help_heading = "Global options", env = "AGENTMESH_NODE", value_name = "URL", value_parser = addr::node_url)]
    pub node: Option<String>,
    /// Name of the key (identity) to use.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "AGENTMESH_KEY",
        value_name = "NAME",
        add = clap_complete::ArgValueCompleter::new(complete::keys)
    )]
    pub key: Option<String>,
    /// Where keys are kept: keyring, file, or auto (keyring, else file).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "AGENTMESH_KEYSTORE",
        value_name = "STORE"
    )]
    pub keystore: Option<KeyStoreKindArg>,
    /// Machine-readable JSON output on stdout.
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
    /// Show agentmesh's own steps on stderr: URLs, statuses, latencies, signature checks (-vv:
    /// more); other libraries log only when AGENTMESH_LOG asks (e.g. AGENTMESH_LOG=hyper=debug).
    #[arg(short, long, global = true, help_heading = "Global options", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output on stderr.
    #[arg(short, long, global = true, help_heading = "Global options", action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    /// Trust the CA certificates of this PEM file for https:// and wss:// (besides the system's).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "AGENTMESH_CA_CERT",
        value_name = "FILE"
    )]
    pub ca_cert: Option<PathBuf>,
    /// Present this PEM client certificate chain and key (one file) to nodes requiring mutual TLS.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "AGENTMESH_CLIENT_CERT",
        value_name = "FILE"
    )]
    pub client_cert: Option<PathBuf>,
    /// One folder for config, keys and data (tests and several local nodes use it).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "AGENTMESH_HOME",
        value_name = "DIR"
    )]
    pub home: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `--keystore` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KeyStoreKindArg {
    /// The OS keyring only.
    Keyring,
    /// 0600 files under the home folder only.
    File,
    /// The keyring, falling back to files where none answers.
    Auto,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a named Ed25519 identity and print its did:key.
    #[command(after_help = examples::KEYGEN)]
    Keygen(keygen::Args),
    /// Sign an agent card and publish it to a node.
    #[command(after_help = examples::REGISTER)]
    Register(register::Args),
    /// Find agents by what they do, in plain words.
    #[command(after_help = examples::DISCOVER)]
    Discover(discover::Args),
    /// Show an agent's card, readable (default: my own).
    #[command(after_help = examples::SHOW)]
    Show(everyday::ShowArgs),
    /// My identities: name, ID, store, and whether each has a live card on the node.
    #[command(after_help = examples::KEYS)]
    Keys,
    /// Is the node up, which key am I, is my card live, is my tunnel open.
    #[command(after_help = examples::STATUS)]
    Status,
    /// Call an agent with a signed request (through the node's gateway, or --direct).
    #[command(after_help = examples::INVOKE)]
    Invoke(invoke::Args),
    /// Hold a relay tunnel for an agent behind NAT and forward its calls to a local service.
    #[command(after_help = examples::CONNECT)]
    Connect(connect::Args),
    /// Run a node: registry, discovery, gateway, relay and trust.
    #[command(after_help = examples::SERVE)]
    Serve(serve::Args),
    /// This node's trust in agents: show, list, and admin reports.
    #[command(after_help = examples::TRUST)]
    Trust(trust::Args),
    /// A live view of a node: agents, trust, peers, tunnels, events.
    #[command(after_help = examples::TOP)]
    Top(top::Args),
    /// Run a federation of in-process nodes with faults and measure convergence.
    #[command(after_help = examples::SIM)]
    Sim(sim::Args),
    /// Print shell completions.
    #[command(after_help = examples::COMPLETIONS)]
    Completions(gen_docs::CompletionsArgs),
    /// Write man pages.
    #[command(after_help = examples::MAN)]
    Man(gen_docs::ManArgs),
    /// Print the node API's OpenAPI 3.1 document (what `GET /v1/openapi.json` serves).
    #[command(after_help = examples::OPENAPI)]
    Openapi(gen_docs::OpenapiArgs),
}

/// Settings every subcommand can use, resolved from flags, environment and the config file.
pub struct Ctx {
    /// Where things live.
    pub paths: Paths,
    /// The config file.
    pub file: FileConfig,
    /// `--json`.
    pub json: bool,
    /// Node base URL.
    pub node: String,
    /// Key name.
    pub key: String,
    /// The key store.
    pub keystore: KeyStore,
    /// `-q` given.
    pub quiet: bool,
    /// `-v` given.
    pub verbose: bool,
}

impl Ctx {
    fn resolve(cli: &Cli) -> anyhow::Result<Self> {
        if let Some(ca) = &cli.ca_cert {
            crate::client::trust_ca_file(ca).context("cannot read --ca-cert")?;
        }
        if let Some(cert) = &cli.client_cert {
            crate::client::use_client_cert_file(cert).context("cannot read --client-cert")?;
        }
        let paths = Paths::resolve(cli.home.as_deref())?;
        let file = FileConfig::load(&paths.config_file, false)?;
        let kind = match cli.keystore {
            Some(KeyStoreKindArg::Keyring) => KeyStoreKind::Keyring,
            Some(KeyStoreKindArg::File) => KeyStoreKind::File,
            Some(KeyStoreKindArg::Auto) => KeyStoreKind::Auto,
            None => match &file.keystore {
                Some(s) => s.parse().map_err(anyhow::Error::msg)?,
                None => KeyStoreKind::Auto,
            },
        };
        Ok(Self {
            node: match (&cli.node, &file.node) {
                (Some(n), _) => n.clone(),
                (None, Some(n)) => addr::node_url(n)
                    .map_err(|e| anyhow::anyhow!("invalid `node` in the config file: {e}"))?,
                (None, None) => DEFAULT_NODE.to_string(),
            },
            key: cli
                .key
                .clone()
                .or_else(|| file.key.clone())
                .unwrap_or_else(|| "default".to_string()),
            keystore: KeyStore::new(kind, paths.keys_dir.clone()),
            json: cli.json,
            quiet: cli.quiet > 0,
            verbose: cli.verbose > 0,
            paths,
            file,
        })
    }

    /// The did:key an agent reference names: `@keyname` (one of this user's identities), a
    /// did:key, or — asked of the node — a unique card name, the short form tables print
    /// (`z6Mk…mH8AzofB`) or an ID prefix. Naming several agents is an error that lists them.
    pub async fn resolve_agent(&self, client: &Client, reference: &str) -> anyhow::Result<String> {
        if let Some(key) = reference.strip_prefix('@') {
            return Ok(self.load_key(key)?.0.id().to_string());
        }
        let not_an_id = match crate::identity::public_from_did(reference) {
            Ok(_) => return Ok(reference.to_string()),
            Err(e) => e,
        };
        let found = client
            .resolve(reference)
            .await
            .with_context(|| format!("cannot look `{reference}` up at {}", client.base()))?;
        match found.matches.as_slice() {
            [one] => {
                tracing::debug!(reference, agent_id = one.agent_id, "resolved");
                Ok(one.agent_id.clone())
            }
            [] if reference.starts_with("did:key:") => anyhow::bail!(
                "`{reference}` is not an agent ID ({not_an_id}), and no live agent on {} has an ID starting with it",
                client.base()
            ),
            [] => anyhow::bail!(
                "no live agent on {} is named `{reference}` or has an ID like it (find one with `agentmesh discover`)",
                client.base()
            ),
            many => {
                let list: Vec<String> = many
                    .iter()
                    .map(|a| format!("  {}  {}", a.agent_id, a.name))
                    .collect();
                anyhow::bail!(
                    "`{reference}` names {}{} agents; say which:\n{}",
                    many.len(),
                    if found.more { "+" } else { "" },
                    list.join("\n")
                )
            }
        }
    }

    /// Loads the key named `name`.
    pub fn load_key(&self, name: &str) -> anyhow::Result<(Identity, KeyLocation)> {
        self.keystore
            .load(name)
            .with_context(|| format!("cannot load key `{name}`"))
    }

    /// A client of `--node`.
    pub fn client(&self, timeout: Duration) -> anyhow::Result<Client> {
        Ok(Client::new(&self.node, timeout)?)
    }
}

/// How a command ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: a clean negative answer.
    Negative,
}

/// Writes a line to stdout; a closed pipe surfaces as an error the exit path treats as success.
pub fn out(line: impl std::fmt::Display) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    Ok(())
}

/// Prints a value as JSON on stdout (pretty on a terminal).
pub fn out_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    let text = if std::io::stdout().is_terminal() {
        serde_json::to_string_pretty(v)?
    } else {
        serde_json::to_string(v)?
    };
    out(text)
}

/// Prints rows under `header` in aligned columns on a terminal, tab-separated otherwise (for
/// scripts that did not ask for JSON).
pub fn print_rows<const N: usize>(
    header: [&str; N],
    rows: &[[String; N]],
    tty: bool,
) -> anyhow::Result<()> {
    if !tty {
        for r in rows {
            out(r.join("\t"))?;
        }
        return Ok(());
    }
    let mut widths = header.map(|h| h.chars().count());
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        cells
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    out(line(&mut header.iter().copied()))?;
    for r in rows {
        out(line(&mut r.iter().map(String::as_str)))?;
    }
    Ok(())
}

/// A single-threaded runtime for client commands.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A runtime on every core, for the commands that serve (`serve`, `connect`, `sim`).
pub fn server_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Standard error for logs, whose write failures are dropped: a node whose stderr is full or
/// closed keeps serving (tracing-subscriber reports a failed write with `eprintln!`, which
/// panics when stderr itself is what failed).
struct LossyStderr;

impl std::io::Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

fn init_logging(cli: &Cli) {
    let default = match (&cli.command, cli.verbose, cli.quiet) {
        // Lines on stderr would tear the full-screen view (AGENTMESH_LOG still applies).
        (Command::Top(_), _, _) => "off",
        (_, _, q) if q > 0 => "error",
        // -v and -vv show agentmesh's own steps; other crates' logs only when AGENTMESH_LOG
        // asks for them.
        (_, v, _) if v >= 2 => "warn,agentmesh=trace",
        (_, 1, _) => "warn,agentmesh=debug",
        (Command::Serve(_), _, _) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AGENTMESH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let json = match &cli.command {
        Command::Serve(a) => serve_log_format(cli, a).as_deref() == Some("json"),
        _ => false,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LossyStderr)
        .with_ansi(use_color_stderr());
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// `serve`'s log format: `--log-format` / `AGENTMESH_LOG_FORMAT`, else the config file's
/// `[serve] log_format` (read here because logging starts before the command runs; a broken
/// file is reported by the command itself).
fn serve_log_format(cli: &Cli, args: &serve::Args) -> Option<String> {
    if args.log_format.is_some() {
        return args.log_format.clone();
    }
    let path = match &args.config {
        Some(p) => p.clone(),
        None => Paths::resolve(cli.home.as_deref()).ok()?.config_file,
    };
    FileConfig::load(&path, false).ok()?.serve.log_format
}

/// Whether stderr gets colour: a terminal, and `NO_COLOR` unset.
pub fn use_color_stderr() -> bool {
    use std::io::IsTerminal as _;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Parses arguments, runs, and maps the result to an exit code.
pub fn main() -> ExitCode {
    // At a <TAB>, the shell runs us with AGENTMESH_COMPLETE set: answer and exit.
    complete::run();
    // Bare `agentmesh` is a request for help (as with gh), whatever AGENTMESH_* is set.
    if std::env::args_os().len() <= 1 {
        let _ = <Cli as clap::CommandFactory>::command().print_help();
        return ExitCode::SUCCESS;
    }
    let cli = Cli::parse();
    init_logging(&cli);
    match run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Negative) => ExitCode::from(1),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e);
            ExitCode::from(2)
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let ctx = Ctx::resolve(&cli)?;
    match cli.command {
        Command::Keygen(args) => keygen::run(&ctx, args),
        Command::Register(args) => register::run(&ctx, args),
        Command::Discover(args) => discover::run(&ctx, args),
        Command::Invoke(args) => invoke::run(&ctx, args),
        Command::Show(args) => everyday::show(&ctx, args),
        Command::Keys => everyday::keys(&ctx),
        Command::Status => everyday::status(&ctx),
        Command::Connect(args) => connect::run_cmd(&ctx, args),
        Command::Serve(args) => serve::run(&ctx, args),
        Command::Trust(args) => trust::run(&ctx, args),
        Command::Sim(args) => sim::run_cmd(&ctx, args),
        Command::Top(args) => top::run(&ctx, args),
        Command::Completions(args) => gen_docs::completions(args),
        Command::Man(args) => gen_docs::man(args),
        Command::Openapi(args) => gen_docs::openapi(args),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn print_error(e: &anyhow::Error) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {e}");
    for cause in e.chain().skip(1) {
        let _ = writeln!(err, "caused by: {cause}");
    }
    if let Some(h) = hint(e) {
        let _ = writeln!(err, "hint: {h}");
    }
}

fn hint(e: &anyhow::Error) -> Option<String> {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<ClientError>() {
            return match c {
                ClientError::Unreachable { .. } => Some(
                    "is the node running? start one with `agentmesh serve`, or point --node / AGENTMESH_NODE at one"
                        .into(),
                ),
                ClientError::NotANode { .. } => Some(
                    "point --node (or AGENTMESH_NODE, or `node` in the config file) at an AgentMesh node, e.g. http://127.0.0.1:7070".into(),
                ),
                ClientError::Api { code, .. } if code == "stale" => Some(
                    "the node holds a newer or equal version; wait a second and register again".into(),
                ),
                _ => None,
            };
        }
        if let Some(InteropError::Unreachable { url, .. }) = cause.downcast_ref::<InteropError>() {
            // Through the gateway the URL is the node's; with --direct it is the agent's own.
            return Some(if url.contains("/v1/agents/") && url.contains("/invoke") {
                "is the node running? start one with `agentmesh serve`, or point --node / AGENTMESH_NODE at one".into()
            } else {
                format!(
                    "is the agent running at {url}? --direct calls the endpoint its card names; without --direct the node forwards the call (and reaches agents behind a relay)"
                )
            });
        }
        if let Some(InteropError::Status { status, url, .. }) = cause.downcast_ref::<InteropError>()
        {
            let gateway = url.contains("/v1/agents/") && url.contains("/invoke");
            return match status {
                404 => Some("is --path the agent's MCP/A2A endpoint? (`/` is the card's endpoint itself)".into()),
                401 if gateway => Some("the gateway refused the signature: is this machine's clock right?".into()),
                401 => Some("the agent refused the call: it may want credentials AgentMesh does not send (OAuth, an API key: pass one with -H), or refused the signature".into()),
                406 | 415 | 405 => Some("the agent does not speak this protocol at this path".into()),
                421 => Some("the agent refused the Host header; call it through the gateway, which sets the agent's own".into()),
                _ => None,
            };
        }
        if let Some(k) = cause.downcast_ref::<KeyStoreError>() {
            return match k {
                KeyStoreError::NotFound(name) => {
                    Some(format!("create it with `agentmesh keygen --name {name}`"))
                }
                KeyStoreError::Exists { .. } => {
                    Some("pass --force to replace it (the old identity is lost)".into())
                }
                _ => None,
            };
        }
    }
    None
}
