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
    // ------------------------------------------------------------------
    // THE MEDIA PLANE IS CONSTRUCTED HERE.
    //
    // The SFU (server/src/sfu.rs) implements `media::MediaPlane`. Wire it
    // in like this, and delete the `Media::none()` lines below:
    //
    //     let (events, events_rx) = Media::channel();
    //     let stats = std::sync::Arc::new(sotto_server::media::MediaStats::default());
    //     let sfu = sotto_server::sfu::Sfu::start(&config.media, events, stats.clone())
    //         .await
    //         .context("starting the SFU")?;
    //     let media = Media { plane: std::sync::Arc::new(sfu), events: events_rx, stats };
    //
    // `config.media` has the public IPs, the UDP port and the TCP port;
    // `events` is an `UnboundedSender<MediaEvent>` (signalling owns the
    // receiver); `stats` feeds /metrics.
    // ------------------------------------------------------------------
    let media = Media::none();
    tracing::warn!("media is not available: this build has no SFU, only signalling");

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
