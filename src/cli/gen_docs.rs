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
    /// The shell to print completions for.
    #[arg(required_unless_present = "out_dir")]
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

fn completion(shell: Shell) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "agentmesh", &mut buf);
    buf
}

/// Every man page: `agentmesh.1` and `agentmesh-<sub>.1` for each subcommand.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut pages = vec![("agentmesh.1".to_string(), render(cmd.clone()))];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("agentmesh-{}", sub.get_name());
        let page = sub.clone().name(name.clone()).bin_name(name.clone());
        pages.push((format!("{name}.1"), render(page)));
    }
    pages
}

fn render(cmd: clap::Command) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .expect("rendering into memory cannot fail");
    buf
}

pub(super) fn completions(args: CompletionsArgs) -> anyhow::Result<Outcome> {
    use std::io::Write as _;
    match (args.shell, args.out_dir) {
        (_, Some(dir)) => write_all(&dir, &completion_files())?,
        (Some(shell), None) => std::io::stdout().lock().write_all(&completion(shell))?,
        (None, None) => {
            anyhow::bail!("name a shell (bash, zsh, fish, elvish, powershell) or pass --out-dir")
        }
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
