//! `sotto`: the native participant on the command line.
//!
//! `sotto join LINK`, `sotto new-room HOST`, `sotto identity`. Exit codes
//! are listed in `--help` ([`args::EXIT_CODES`]) and returned through
//! [`Exit`].

mod args;
mod identity_file;
mod join;
mod output;

use std::process::ExitCode;

use clap::Parser;
use serde_json::json;
use sotto_crypto::admission::RoomSecret;
use sotto_proto::RoomLink;

use args::{Cli, Command};

/// How the program ends when it does not succeed: a code from
/// [`args::EXIT_CODES`] and, for usage and internal errors, a message.
#[derive(Debug)]
pub struct Exit {
    code: u8,
    message: Option<String>,
}

impl Exit {
    /// Bad arguments, link or file (code 2).
    pub fn usage(message: impl Into<String>) -> Exit {
        Exit {
            code: 2,
            message: Some(message.into()),
        }
    }

    /// Something that should not happen (code 1).
    pub fn internal(e: anyhow::Error) -> Exit {
        Exit {
            code: 1,
            message: Some(format!("{e:#}")),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("SOTTO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Join(args) => match tokio::runtime::Runtime::new() {
            Ok(rt) => {
                let result = rt.block_on(join::run(args));
                // Tokio reads stdin with a blocking read that cannot be
                // cancelled: waiting for it would keep a refused knocker's
                // process alive until someone pressed Enter.
                rt.shutdown_background();
                result
            }
            Err(e) => Err(Exit::internal(e.into())),
        },
        Command::NewRoom { host } => new_room(&host),
        Command::Identity { file, json } => identity(&file, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(exit) => {
            if let Some(message) = &exit.message {
                eprintln!("sotto: {message}");
            }
            ExitCode::from(exit.code)
        }
    }
}

/// The origin for `host`: as given if it has a scheme; plain http for
/// localhost and loopback addresses (a development server), https
/// otherwise.
fn origin_of(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.starts_with("http://") || host.starts_with("https://") {
        return host.to_owned();
    }
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.parse::<u16>().is_ok())
        .map_or(host, |(name, _)| name);
    let local = name == "localhost"
        || name
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if local {
        format!("http://{host}")
    } else {
        format!("https://{host}")
    }
}

fn new_room(host: &str) -> Result<(), Exit> {
    let secret = RoomSecret::generate().map_err(|e| Exit::internal(anyhow::anyhow!(e)))?;
    let link = format!(
        "{}/{}#{}",
        origin_of(host),
        sotto_client::names::random_room_name(),
        secret.to_fragment().as_str()
    );
    // Check that what we print is a link `sotto join` accepts.
    RoomLink::parse(&link).map_err(|e| Exit::usage(format!("bad host {host:?}: {e}")))?;
    println!("{link}");
    Ok(())
}

fn identity(file: &std::path::Path, as_json: bool) -> Result<(), Exit> {
    let (identity, created) = identity_file::load_or_create(file)?;
    let fingerprint = identity.fingerprint();
    if as_json {
        println!(
            "{}",
            json!({"file": file.display().to_string(), "created": created,
                   "fingerprint": fingerprint.digits()})
        );
    } else {
        if created {
            println!("created a new identity in {}", file.display());
        } else {
            println!("identity {}", file.display());
        }
        println!("fingerprint {fingerprint}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_become_origins() {
        assert_eq!(origin_of("localhost:8080"), "http://localhost:8080");
        assert_eq!(origin_of("127.0.0.1:9"), "http://127.0.0.1:9");
        assert_eq!(origin_of("sotto.example"), "https://sotto.example");
        assert_eq!(origin_of("http://sotto.example/"), "http://sotto.example");
    }
}
