//! `agentmesh completions`, `agentmesh man` and `agentmesh openapi`: generated from the clap
//! definitions and the API's annotations. The files committed in `completions/`, `man/` and
//! `docs/openapi.json` come from [`completion_files`], [`man_pages`] and
//! `node::openapi::document_json`; a test fails when they are stale.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::CommandFactory as _;
use clap_complete::Shell;

use super::{Cli, Outcome};

/// `completions` flags.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to print completions for (default: the one $SHELL names).
    pub shell: Option<Shell>,
    /// Write every shell's completions into this folder instead.
    #[arg(long, value_name = "DIR", conflicts_with = "shell")]
    pub out_dir: Option<PathBuf>,
}

/// `man` flags.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write one page per command into this folder (default: print agentmesh.1 to stdout).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// `openapi` flags.
#[derive(Debug, clap::Args)]
pub struct OpenapiArgs {
    /// Write the document to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The completion script for `shell` and the file name it is installed as.
pub fn completion_files() -> Vec<(String, Vec<u8>)> {
    [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::PowerShell,
    ]
    .into_iter()
    .map(|shell| (completion_file_name(shell), completion(shell)))
    .collect()
}

fn completion_file_name(shell: Shell) -> String {
    match shell {
        Shell::Bash => "agentmesh.bash".into(),
        Shell::Zsh => "_agentmesh".into(),
        Shell::Fish => "agentmesh.fish".into(),
        Shell::Elvish => "agentmesh.elv".into(),
        Shell::PowerShell => "_agentmesh.ps1".into(),
        other => format!("agentmesh.{other}"),
    }
}

/// The script that registers `agentmesh`'s completions with `shell`; it calls the binary back
/// at each <TAB> (see [`super::complete`]), so it completes key and agent names too.
fn completion(shell: Shell) -> Vec<u8> {
    let name = match shell {
        Shell::PowerShell => "powershell".to_string(),
        other => other.to_string(),
    };
    super::complete::registration(&name)
}

/// Every man page: `agentmesh.1`, and `agentmesh-<sub>.1` for each subcommand and each of
/// theirs (`agentmesh-trust-show.1`), so every page a page names exists.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    // `help` is a subcommand at the prompt, not a page: the pages list the real ones.
    fn no_help(cmd: clap::Command) -> clap::Command {
        let subs: Vec<clap::Command> = cmd.get_subcommands().cloned().map(no_help).collect();
        subs.into_iter()
            .fold(cmd.disable_help_subcommand(true), |c, s| {
                let name = s.get_name().to_string();
                c.mut_subcommand(name, |_| s)
            })
    }
    let mut cmd = no_help(Cli::command());
    cmd.build();
    let mut pages = vec![("agentmesh.1".to_string(), render(&cmd, true))];
    add_pages(&cmd, "agentmesh", &mut pages);
    pages
}

fn add_pages(cmd: &clap::Command, prefix: &str, pages: &mut Vec<(String, Vec<u8>)>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("{prefix}-{}", sub.get_name());
        let page = sub.clone().name(name.clone()).bin_name(name.clone());
        pages.push((format!("{name}.1"), render(&page, false)));
        add_pages(sub, &name, pages);
    }
}

/// A page: clap_mangen's sections, then EXAMPLES from the command's after-help and, on the
/// main page, ENVIRONMENT, FILES and EXIT STATUS.
fn render(cmd: &clap::Command, main: bool) -> Vec<u8> {
    let mut buf = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut sections = || -> std::io::Result<()> {
        man.render_title(&mut buf)?;
        man.render_name_section(&mut buf)?;
        man.render_synopsis_section(&mut buf)?;
        man.render_description_section(&mut buf)?;
        if cmd.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut buf)?;
        }
        if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
            man.render_subcommands_section(&mut buf)?;
        }
        if let Some(examples) = cmd.get_after_help() {
            let text = examples.to_string();
            let lines: Vec<&str> = text
                .lines()
                .skip_while(|l| l.trim_end() == "Examples:")
                .map(|l| l.strip_prefix("  ").unwrap_or(l))
                .collect();
            buf.extend(roff_section("EXAMPLES", &lines.join("\n")).as_bytes());
        }
        if main {
            for (title, text) in MAIN_SECTIONS {
                buf.extend(roff_section(title, text).as_bytes());
            }
        }
        man.render_version_section(&mut buf)
    };
    sections().expect("rendering into memory cannot fail");
    buf
}

/// A section of literal lines (no filling), escaped for roff: backslashes, hyphens, and a
/// leading `.` or `'` that roff would read as a request.
fn roff_section(title: &str, text: &str) -> String {
    let mut out = format!(".SH {title}\n.nf\n");
    for line in text.lines() {
        out.push_str("\\&");
        out.push_str(&line.replace('\\', "\\e").replace('-', "\\-"));
        out.push('\n');
    }
    out.push_str(".fi\n");
    out
}

/// The main page's ENVIRONMENT, FILES and EXIT STATUS.
const MAIN_SECTIONS: [(&str, &str); 3] = [
    (
        "ENVIRONMENT",
        "AGENTMESH_HOME       one folder for config, keys, cards and data (--home)
AGENTMESH_NODE       the node to talk to (--node)
AGENTMESH_KEY        the identity to use (--key)
AGENTMESH_KEYSTORE   keyring, file or auto (--keystore)
AGENTMESH_CA_CERT    extra trusted CAs, PEM (--ca-cert)
AGENTMESH_CLIENT_CERT  a client certificate and key for mutual TLS (--client-cert)
AGENTMESH_LOG        a tracing filter, e.g. agentmesh=debug or hyper=debug
AGENTMESH_*          every serve flag, e.g. AGENTMESH_LISTEN (see agentmesh-serve(1))
NO_COLOR             no colour on stderr",
    ),
    (
        "FILES",
        "<home>/config.toml            settings (node, key, keystore, [serve])
<home>/keys/<name>.key        a key file: 0600 in a 0700 folder
<home>/keys/keyring-names     the keyring entries this CLI created
<home>/cards/                 the last card each key published (what edits start from)
<home>/data/agentmesh.db      a node's SQLite database
<home>/data/node.key          a node's own key
<home>/data/lock              held while a node runs on the folder
<home> is --home, else ~/.config/agentmesh and ~/.local/share/agentmesh",
    ),
    (
        "EXIT STATUS",
        "0   success
1   a clean negative answer: no match, an agent's non-2xx answer, a node refusing a call
2   an error: bad input, an unreachable node, a refused card, a failed signature check",
    ),
];

pub(super) fn completions(args: CompletionsArgs) -> anyhow::Result<Outcome> {
    use std::io::Write as _;
    match (args.shell, args.out_dir) {
        (_, Some(dir)) => write_all(&dir, &completion_files())?,
        (Some(shell), None) => std::io::stdout().lock().write_all(&completion(shell))?,
        (None, None) => match Shell::from_env() {
            Some(shell) => std::io::stdout().lock().write_all(&completion(shell))?,
            None => anyhow::bail!(
                "cannot tell your shell from $SHELL; name one (bash, zsh, fish, elvish, powershell) or pass --out-dir"
            ),
        },
    }
    Ok(Outcome::Success)
}

pub(super) fn man(args: ManArgs) -> anyhow::Result<Outcome> {
    use std::io::Write as _;
    let pages = man_pages();
    match args.out_dir {
        None => std::io::stdout().lock().write_all(&pages[0].1)?,
        Some(dir) => write_all(&dir, &pages)?,
    }
    Ok(Outcome::Success)
}

pub(super) fn openapi(args: OpenapiArgs) -> anyhow::Result<Outcome> {
    use std::io::Write as _;
    let doc = crate::node::openapi::document_json();
    match args.out {
        None => std::io::stdout().lock().write_all(doc.as_bytes())?,
        Some(path) => {
            std::fs::write(&path, doc)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(Outcome::Success)
}

fn write_all(dir: &std::path::Path, files: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
