//! `client-cli key`: this client's identity, the key pair its names belong to (one per client
//! home, made on first use). `show` prints its fingerprint; `export` prints it (or writes it to
//! a new private file) as one armored line; `import` installs such a line on another device,
//! which then holds the same names, and never replaces an identity without `--force`.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use dgram_client::{identity, keys, IdentityFile};
use dgram_proto::session::fingerprint;

/// `client-cli key ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Print this client's fingerprint (making its identity if it has none yet).
    Show(HomeArg),
    /// Print this client's identity as one line to install on another device (it is the
    /// private key: whoever has it can use your names), or write it to --out.
    Export {
        #[command(flatten)]
        home: HomeArg,
        /// Write it to this new file (mode 0600) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Install an identity exported on another device, read from FILE or standard input.
    Import {
        #[command(flatten)]
        home: HomeArg,
        /// Replace the identity this home has (its names are lost unless it is saved).
        #[arg(long)]
        force: bool,
        /// The exported identity; `-` or nothing reads standard input.
        #[arg(value_name = "FILE")]
        from: Option<PathBuf>,
    },
}

/// Where the identity lives.
#[derive(Debug, clap::Args)]
pub(crate) struct HomeArg {
    /// The client home [default: $XDG_CONFIG_HOME/dgram, else ~/.config/dgram].
    #[arg(long, value_name = "DIR")]
    home: Option<PathBuf>,
}

impl HomeArg {
    fn file(&self) -> anyhow::Result<IdentityFile> {
        let home = match &self.home {
            Some(home) => home.clone(),
            None => keys::default_home().context(
                "neither XDG_CONFIG_HOME nor HOME is set; give a directory with --home DIR",
            )?,
        };
        Ok(IdentityFile::new(&home))
    }
}

pub(crate) fn run(command: KeyCommand) -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    match command {
        KeyCommand::Show(home) => {
            let file = home.file()?;
            let pair = file.load_or_create()?;
            writeln!(out, "{}", fingerprint(&pair.public))?;
            writeln!(io::stderr(), "identity: {}", file.path().display())?;
        }
        KeyCommand::Export { home, out: to } => {
            let file = home.file()?;
            let pair = file.load()?.with_context(|| {
                format!(
                    "this client has no identity yet ({} does not exist)",
                    file.path().display()
                )
            })?;
            match to {
                Some(path) => identity::export_to(&pair, &path)?,
                None => writeln!(out, "{}", identity::export(&pair))?,
            }
            writeln!(
                io::stderr(),
                "this is the private key of {}: whoever has it can use your names; \
                 install it with `client-cli key import` and keep it nowhere else",
                fingerprint(&pair.public)
            )?;
        }
        KeyCommand::Import { home, force, from } => {
            let text = match from.filter(|p| p.as_os_str() != "-") {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => {
                    let mut text = String::new();
                    io::stdin()
                        .take(4096)
                        .read_to_string(&mut text)
                        .context("reading standard input")?;
                    text
                }
            };
            let pair = identity::parse(&text)
                .map_err(|why| anyhow::anyhow!("not an exported identity: {why}"))?;
            let file = home.file()?;
            file.install(&pair, force)?;
            writeln!(out, "{}", fingerprint(&pair.public))?;
            writeln!(io::stderr(), "installed in {}", file.path().display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
