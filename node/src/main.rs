//! `peerlink-node`: parse flags and config, start the node, run until
//! Ctrl-C or SIGTERM, shut down gracefully.
//!
//! Exit codes: 0 after a graceful shutdown (and for `--help`/`--version`);
//! 2 for bad flags, a bad or unreadable config file, or an unusable listen or
//! admin address, each reported as one line on stderr; 1 if the runtime
//! itself cannot be built.

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use peerlink_node::node::{Node, Signals};
use peerlink_node::settings::{one_line, Cli, LogFormat, Settings};
use peerlink_node::{EXIT_RUNTIME, EXIT_USAGE};

/// Prints one error line and returns `code`.
fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("peerlink-node: error: {}", one_line(message));
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's message spans several lines (tip, usage): keep the first.
            let rendered = e.render().to_string();
            let first = rendered.lines().find(|l| !l.trim().is_empty());
            let first = first.unwrap_or("invalid arguments");
            let first = first.trim_start_matches("error: ");
            return fail(EXIT_USAGE, &format!("{first} (see --help)"));
        }
    };
    let settings = match Settings::from_cli(cli, std::env::var("RUST_LOG").ok()) {
        Ok(settings) => settings,
        Err(e) => return fail(EXIT_USAGE, &e.to_string()),
    };
    let filter = tracing_subscriber::EnvFilter::new(&settings.log_filter);
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(EXIT_RUNTIME, &format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async {
        let mut signals = match Signals::install() {
            Ok(signals) => signals,
            Err(e) => return fail(EXIT_RUNTIME, &e.to_string()),
        };
        let node = match Node::start(&settings).await {
            Ok(node) => node,
            Err(e) => return fail(EXIT_USAGE, &e.to_string()),
        };
        let signal = signals.recv().await;
        tracing::info!(signal, "shutting down");
        node.shutdown().await;
        ExitCode::SUCCESS
    })
}
