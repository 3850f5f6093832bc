//! The `sotto-server` binary: configuration, logs, the media plane, and
//! the server until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use sotto_server::config::{Cli, Config};
use sotto_server::server::{Media, Server};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::resolve(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("sotto-server: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.print_config {
        print!("{}", config.describe());
        return ExitCode::SUCCESS;
    }
    // Validated in Config::resolve.
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let media = Media::sfu(&config).context("starting the SFU")?;
    let server = Server::bind(&config, media)
        .await
        .context("starting the server")?;
    let scheme = if server.is_tls() { "https" } else { "http" };
    tracing::info!("listening on {scheme}://{}", server.local_addr());
    server.run(shutdown_signal()).await.context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
