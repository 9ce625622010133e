//! The `switchboard` command: run the gateway, or check a config file.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use switchboard::config::Config;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "IRC, Discord and Matrix in any XMPP client"
)]
struct Cli {
    /// The configuration file.
    #[arg(long, short, default_value = "switchboard.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check a configuration file and name every mistake.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    switchboard::memory::without_thread_caches();
    switchboard::memory::one_arena();
    let cli = Cli::parse();
    let env = |k: &str| std::env::var(k).ok();
    match cli.command {
        Some(Cmd::CheckConfig { file }) => match Config::load(&file, env) {
            Ok(c) => {
                println!(
                    "{}: OK ({} network{} enabled)",
                    file.display(),
                    c.networks.len(),
                    if c.networks.len() == 1 { "" } else { "s" }
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                for e in errors.0 {
                    eprintln!("{}: {e}", file.display());
                }
                ExitCode::FAILURE
            }
        },
        None => match run(cli.config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("switchboard: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(path: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&path, |k| std::env::var(k).ok())
        .map_err(|e| anyhow::anyhow!("{}:\n{e}", path.display()))?;
    // Colours only on a terminal: a log file or the journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            switchboard::bridges::log_filter(&config.log_level),
        ))
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
    let bridges = switchboard::bridges::compiled(&config).context("starting the bridges")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(switchboard::app::run(
        config,
        bridges,
        switchboard::app::stop_signal(),
    ))
}
