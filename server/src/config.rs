//! Configuration: command-line flags, `SOTTO_*` environment variables and an
//! optional TOML file, in that order of precedence, over defaults that serve
//! http://localhost:8080 with nothing else running.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;
use sotto_proto::{IceServer, Limits};

use crate::turn::{TurnRest, TurnSecret};

/// Default listen address: loopback only, so a bare binary exposes nothing.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Default UDP port for media.
pub const DEFAULT_UDP_PORT: u16 = 10000;

/// The server's resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where HTTP (and the signalling WebSocket) listens.
    pub listen: SocketAddr,
    /// Where `/metrics` is served instead of on `listen`, if set.
    pub metrics_listen: Option<SocketAddr>,
    /// What the SFU needs to know about the network.
    pub media: MediaConfig,
    /// STUN/TURN servers handed to clients in `joined`.
    pub ice_servers: Vec<IceServer>,
    /// TURN servers whose credentials are minted for each `joined`
    /// (`--turn` with `--turn-secret`), besides `ice_servers`.
    pub turn_rest: Option<TurnRest>,
    /// Serve HTTPS with these files; plain HTTP (behind a reverse proxy)
    /// when `None`.
    pub tls: Option<TlsFiles>,
    /// The origins (`https://HOST[:PORT]`) whose pages may open the
    /// signalling WebSocket; empty: the request's own `Host`.
    pub public_origins: Vec<String>,
    /// Limits on rooms and messages.
    pub limits: ServerLimits,
    /// Timers and buffers of the signalling connections.
    pub timing: Timing,
    /// A tracing filter (`info`, `sotto_server=debug`, ...).
    pub log: String,
}

/// The SFU's network settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// Addresses the SFU puts in its ICE candidates.
    pub public_ips: Vec<IpAddr>,
    /// The one UDP port all peers share; 0 lets the system choose.
    pub udp_port: u16,
    /// An optional TCP port for ICE-TCP, for networks that block UDP.
    pub tcp_port: Option<u16>,
}

/// Certificate chain and private key, both PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// Limits (spec §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Participants (members and waiting) per room.
    pub max_participants: usize,
    /// Waiting participants (joiners and knockers not yet members) per
    /// room: each costs every member a `join_request` and a knock prompt.
    pub max_waiting: usize,
    /// Rooms on this server.
    pub max_rooms: usize,
    /// Largest signalling message, in bytes of JSON text.
    pub max_message_bytes: usize,
    /// Sustained signalling messages per second per connection; bursts of
    /// twice this are allowed.
    pub messages_per_second: u32,
    /// Open signalling WebSockets from one client address (an IPv6 /64);
    /// loopback is not counted. 0: no limit.
    pub max_connections_per_ip: usize,
    /// Open signalling WebSockets in all. 0: no limit.
    pub max_connections: usize,
}

impl ServerLimits {
    /// What `joined` announces.
    pub fn announced(&self) -> Limits {
        Limits {
            max_message_bytes: self.max_message_bytes,
            max_participants: self.max_participants,
            messages_per_second: self.messages_per_second,
        }
    }
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_participants: 100,
            max_waiting: sotto_proto::delivery::DEFAULT_MAX_WAITING,
            max_rooms: 1000,
            max_message_bytes: 524_288,
            messages_per_second: 20,
            max_connections_per_ip: 16,
            max_connections: 4096,
        }
    }
}

/// Timers and buffers of signalling connections. Not on the command line:
/// the spec fixes them; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How often the server pings (spec §2: 10 s).
    pub ping_interval: Duration,
    /// Silence after which a connection is closed (spec §2: 30 s).
    pub idle_timeout: Duration,
    /// Dropped (rate-limited) messages that close a connection (spec §2: 50)...
    pub flood_drops: usize,
    /// ...within this window (spec §2: 10 s).
    pub flood_window: Duration,
    /// Messages queued for one connection before it counts as a slow
    /// consumer and is closed.
    pub outbox_messages: usize,
    /// Bytes queued for one connection before the same.
    pub outbox_bytes: usize,
    /// How long shutdown waits for connections to close.
    pub shutdown_grace: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            ping_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            flood_drops: 50,
            flood_window: Duration::from_secs(10),
            outbox_messages: 1024,
            outbox_bytes: 16 << 20,
            shutdown_grace: Duration::from_secs(3),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN,
            metrics_listen: None,
            media: MediaConfig {
                public_ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
                udp_port: DEFAULT_UDP_PORT,
                tcp_port: None,
            },
            ice_servers: Vec::new(),
            turn_rest: None,
            tls: None,
            public_origins: Vec::new(),
            limits: ServerLimits::default(),
            timing: Timing::default(),
            log: "info".into(),
        }
    }
}

/// sotto-server: end-to-end encrypted video calls that the server cannot
/// see or hear.
///
/// Serves the web client, the signalling WebSocket (the MLS delivery
/// service) and the SFU, from one binary. With no options it serves
/// http://localhost:8080 and media on UDP port 10000 of 127.0.0.1.
///
/// Every option can also be set with the environment variable shown, or
/// in a TOML file given with --config (keys as the long option, with `_`
/// for `-`; ICE servers as [[ice_servers]] tables with urls, username,
/// credential; limits in a [limits] table). Command line beats
/// environment beats file beats default.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "sotto-server", version, max_term_width = 100)]
pub struct Cli {
    /// A TOML configuration file.
    #[arg(long, env = "SOTTO_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address and port for HTTP and the signalling WebSocket
    /// [default: 127.0.0.1:8080]. Use 0.0.0.0:PORT or [::]:PORT to listen on
    /// every interface.
    #[arg(long, env = "SOTTO_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Serve /metrics (plain HTTP) on this address only, and answer 404 for
    /// it on --listen. Unset, /metrics is on --listen for anyone to read:
    /// a public instance should set this to a loopback or private address,
    /// since the counters tell how many rooms and people are on the server
    /// right now.
    #[arg(long, env = "SOTTO_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Address(es) the SFU announces as ICE candidates: the address clients
    /// reach this host at [default: the listen address if it names one,
    /// else 127.0.0.1]. Repeat or separate with commas.
    #[arg(
        long,
        env = "SOTTO_PUBLIC_IP",
        value_name = "IP",
        value_delimiter = ','
    )]
    pub public_ip: Vec<IpAddr>,

    /// The UDP port all media uses; 0 picks a free one [default: 10000].
    #[arg(long, env = "SOTTO_UDP_PORT", value_name = "PORT")]
    pub udp_port: Option<u16>,

    /// Also accept media over TCP on this port (for networks that block
    /// UDP) [default: off].
    #[arg(long, env = "SOTTO_TCP_PORT", value_name = "PORT")]
    pub tcp_port: Option<u16>,

    /// A STUN server URL handed to clients (stun:HOST:PORT). Repeat or
    /// separate with commas. Replaces the file's ice_servers.
    #[arg(long, env = "SOTTO_STUN", value_name = "URL", value_delimiter = ',')]
    pub stun: Vec<String>,

    /// A TURN server URL handed to clients (turn:HOST:PORT or
    /// turns:HOST:PORT), with --turn-username and --turn-credential.
    /// Repeat or separate with commas. Replaces the file's ice_servers.
    #[arg(long, env = "SOTTO_TURN", value_name = "URL", value_delimiter = ',')]
    pub turn: Vec<String>,

    /// Username for the --turn servers.
    #[arg(long, env = "SOTTO_TURN_USERNAME", value_name = "NAME")]
    pub turn_username: Option<String>,

    /// The secret shared with the --turn servers (coturn's
    /// use-auth-secret / static-auth-secret): each participant gets its own
    /// username and credential, valid for 12 hours, instead of
    /// --turn-username and --turn-credential. Prefer the environment
    /// variable to the command line.
    #[arg(
        long,
        env = "SOTTO_TURN_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub turn_secret: Option<String>,

    /// Credential for the --turn servers. Every participant receives it;
    /// prefer the environment variable to the command line.
    #[arg(
        long,
        env = "SOTTO_TURN_CREDENTIAL",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub turn_credential: Option<String>,

    /// TLS certificate chain (PEM). With --tls-key, serve HTTPS directly
    /// (every response then carries Strict-Transport-Security for a year);
    /// without both, serve plain HTTP for a reverse proxy to wrap.
    #[arg(long, env = "SOTTO_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM) for --tls-cert.
    #[arg(long, env = "SOTTO_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// The origin people reach this server at (https://HOST or
    /// https://HOST:PORT). A browser's WebSocket handshake whose Origin is
    /// not one of these is refused with 403 (clients without a browser send
    /// none and are let in). Unset: the Origin must name the host the
    /// request was sent to (its Host header, any scheme). Set it behind a
    /// reverse proxy that does not pass Host on (nginx's default). Repeat
    /// or separate with commas.
    #[arg(
        long,
        env = "SOTTO_PUBLIC_ORIGIN",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub public_origin: Vec<String>,

    /// Most participants in one room, members and waiting [default: 100].
    #[arg(long, env = "SOTTO_MAX_PARTICIPANTS", value_name = "N")]
    pub max_participants: Option<usize>,

    /// Most participants waiting to be let into one room (joiners and
    /// knockers that are not members yet) [default: 8]. A join beyond it
    /// is told too_many_waiting; the client comes back after a backoff.
    #[arg(long, env = "SOTTO_MAX_WAITING", value_name = "N")]
    pub max_waiting: Option<usize>,

    /// Most rooms on this server [default: 1000].
    #[arg(long, env = "SOTTO_MAX_ROOMS", value_name = "N")]
    pub max_rooms: Option<usize>,

    /// Largest signalling message in bytes [default: 524288].
    #[arg(long, env = "SOTTO_MAX_MESSAGE_BYTES", value_name = "BYTES")]
    pub max_message_bytes: Option<usize>,

    /// Signalling messages per second per participant, bursts of twice
    /// as many [default: 20].
    #[arg(long, env = "SOTTO_MESSAGES_PER_SECOND", value_name = "N")]
    pub messages_per_second: Option<u32>,

    /// Most open signalling WebSockets from one client address (IPv6: one
    /// /64); beyond it the handshake gets HTTP 429 [default: 16; 0: no
    /// limit]. Loopback peers (a reverse proxy on this host) are not
    /// counted. Behind a reverse proxy on another host every client has
    /// the proxy's address: raise this or set it to 0 there.
    #[arg(long, env = "SOTTO_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub max_connections_per_ip: Option<usize>,

    /// Most open signalling WebSockets in all; beyond it the handshake
    /// gets HTTP 429 [default: 4096; 0: no limit].
    #[arg(long, env = "SOTTO_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Log filter, e.g. `info` or `sotto_server=debug` [default: info].
    /// Room names and participant ids appear only at trace level.
    #[arg(long, env = "SOTTO_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// Print the resolved configuration (without secrets) and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// The TOML file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    metrics_listen: Option<SocketAddr>,
    public_ip: Option<Vec<IpAddr>>,
    udp_port: Option<u16>,
    tcp_port: Option<u16>,
    ice_servers: Option<Vec<IceServer>>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    public_origin: Option<Vec<String>>,
    log: Option<String>,
    #[serde(default)]
    limits: FileLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_participants: Option<usize>,
    max_waiting: Option<usize>,
    max_rooms: Option<usize>,
    max_message_bytes: Option<usize>,
    messages_per_second: Option<u32>,
    max_connections_per_ip: Option<usize>,
    max_connections: Option<usize>,
}

/// A configuration that cannot be used, said so that an operator can fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("the configuration file {path} is not valid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's explanation.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Resolves `cli` (flags and environment, as clap parsed them) over
    /// the file it names, if any, over the defaults.
    pub fn resolve(cli: &Cli) -> Result<Config, ConfigError> {
        let (file, base) = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                let file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (file, base)
            }
            None => (FileConfig::default(), PathBuf::new()),
        };
        let defaults = Config::default();
        let listen = cli.listen.or(file.listen).unwrap_or(defaults.listen);
        let public_ips = if !cli.public_ip.is_empty() {
            cli.public_ip.clone()
        } else if let Some(ips) = file.public_ip.filter(|ips| !ips.is_empty()) {
            ips
        } else if listen.ip().is_unspecified() {
            defaults.media.public_ips
        } else {
            vec![listen.ip()]
        };
        let ice_servers = if cli.stun.is_empty() && cli.turn.is_empty() {
            file.ice_servers.unwrap_or_default()
        } else {
            ice_servers_from_flags(cli)
        };
        let turn_rest = match &cli.turn_secret {
            None => None,
            Some(_) if cli.turn.is_empty() => {
                return Err(ConfigError::Invalid(
                    "--turn-secret needs the TURN servers it is shared with (--turn)".into(),
                ));
            }
            Some(_) if cli.turn_username.is_some() || cli.turn_credential.is_some() => {
                return Err(ConfigError::Invalid(
                    "--turn-secret mints each participant's TURN username and credential; drop --turn-username and --turn-credential".into(),
                ));
            }
            Some(secret) => Some(TurnRest {
                urls: cli.turn.clone(),
                secret: TurnSecret::new(secret.clone()),
            }),
        };
        // Paths in the file are relative to the file.
        let from_file = |p: Option<PathBuf>| p.map(|p| base.join(p));
        let tls_cert = cli.tls_cert.clone().or(from_file(file.tls_cert));
        let tls_key = cli.tls_key.clone().or(from_file(file.tls_key));
        let tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "give both a TLS certificate and a key (--tls-cert, --tls-key), or neither"
                        .into(),
                ));
            }
        };
        let d = defaults.limits;
        let limits = ServerLimits {
            max_participants: cli
                .max_participants
                .or(file.limits.max_participants)
                .unwrap_or(d.max_participants),
            max_waiting: cli
                .max_waiting
                .or(file.limits.max_waiting)
                .unwrap_or(d.max_waiting),
            max_rooms: cli
                .max_rooms
                .or(file.limits.max_rooms)
                .unwrap_or(d.max_rooms),
            max_message_bytes: cli
                .max_message_bytes
                .or(file.limits.max_message_bytes)
                .unwrap_or(d.max_message_bytes),
            messages_per_second: cli
                .messages_per_second
                .or(file.limits.messages_per_second)
                .unwrap_or(d.messages_per_second),
            max_connections_per_ip: cli
                .max_connections_per_ip
                .or(file.limits.max_connections_per_ip)
                .unwrap_or(d.max_connections_per_ip),
            max_connections: cli
                .max_connections
                .or(file.limits.max_connections)
                .unwrap_or(d.max_connections),
        };
        let config = Config {
            listen,
            metrics_listen: cli.metrics_listen.or(file.metrics_listen),
            media: MediaConfig {
                public_ips,
                udp_port: cli.udp_port.or(file.udp_port).unwrap_or(DEFAULT_UDP_PORT),
                tcp_port: cli.tcp_port.or(file.tcp_port),
            },
            ice_servers,
            turn_rest,
            tls,
            public_origins: if cli.public_origin.is_empty() {
                file.public_origin.unwrap_or_default()
            } else {
                cli.public_origin.clone()
            },
            limits,
            timing: defaults.timing,
            log: cli.log.clone().or(file.log).unwrap_or(defaults.log),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges and consistency.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        let l = &self.limits;
        if l.max_participants == 0
            || l.max_waiting == 0
            || l.max_rooms == 0
            || l.messages_per_second == 0
        {
            return invalid(
                "max_participants, max_waiting, max_rooms and messages_per_second must be at least 1"
                    .into(),
            );
        }
        // The hard cap of a WebSocket message is 4x this (spec §2).
        if !(1024..=(64 << 20)).contains(&l.max_message_bytes) {
            return invalid(format!(
                "max_message_bytes must be between 1024 and {}, not {}",
                64 << 20,
                l.max_message_bytes
            ));
        }
        if let Some(ip) = self.media.public_ips.iter().find(|ip| ip.is_unspecified()) {
            return invalid(format!(
                "public IP {ip} is not an address clients can reach; name this host's address"
            ));
        }
        if self.media.tcp_port.is_some_and(|p| p == 0) {
            return invalid("the TCP media port must not be 0".into());
        }
        for server in &self.ice_servers {
            if server.urls.is_empty() {
                return invalid("an ICE server needs at least one URL".into());
            }
            for url in &server.urls {
                let scheme_ok = ["stun:", "stuns:", "turn:", "turns:"]
                    .iter()
                    .any(|s| url.starts_with(s));
                if !scheme_ok {
                    return invalid(format!(
                        "ICE server URL {url:?} must start with stun:, stuns:, turn: or turns:"
                    ));
                }
            }
        }
        for url in self.turn_rest.iter().flat_map(|t| &t.urls) {
            if !(url.starts_with("turn:") || url.starts_with("turns:")) {
                return invalid(format!(
                    "TURN server URL {url:?} must start with turn: or turns:"
                ));
            }
        }
        if self
            .metrics_listen
            .is_some_and(|m| m == self.listen && m.port() != 0)
        {
            return invalid(format!(
                "metrics_listen must be another address than listen ({})",
                self.listen
            ));
        }
        if let Err(e) = crate::http::AllowedOrigins::new(&self.public_origins) {
            return invalid(format!("public origin: {e}"));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            return invalid(format!("log filter {:?} is not valid: {e}", self.log));
        }
        Ok(())
    }

    /// The configuration as an operator may see it: secrets replaced.
    pub fn describe(&self) -> String {
        let mut ice: Vec<String> = self
            .ice_servers
            .iter()
            .map(|s| {
                let auth = if s.credential.is_some() {
                    " (with credential)"
                } else {
                    ""
                };
                format!("{}{auth}", s.urls.join(" "))
            })
            .collect();
        if let Some(turn) = &self.turn_rest {
            ice.push(format!(
                "{} (credentials minted per participant, 12 h)",
                turn.urls.join(" ")
            ));
        }
        let l = &self.limits;
        format!(
            "listen = {}\nmetrics_listen = {}\ntls = {}\npublic_origin = {:?}\npublic_ip = {:?}\nudp_port = {}\ntcp_port = {}\nice_servers = {:?}\nmax_participants = {}\nmax_waiting = {}\nmax_rooms = {}\nmax_message_bytes = {}\nmessages_per_second = {}\nmax_connections_per_ip = {}\nmax_connections = {}\nlog = {}\n",
            self.listen,
            self.metrics_listen
                .map_or_else(|| "off (/metrics on listen)".to_owned(), |a| a.to_string()),
            match &self.tls {
                Some(t) => format!("{} + {}", t.cert.display(), t.key.display()),
                None => "off (plain HTTP)".into(),
            },
            self.public_origins,
            self.media.public_ips,
            self.media.udp_port,
            self.media
                .tcp_port
                .map_or_else(|| "off".to_owned(), |p| p.to_string()),
            ice,
            l.max_participants,
            l.max_waiting,
            l.max_rooms,
            l.max_message_bytes,
            l.messages_per_second,
            l.max_connections_per_ip,
            l.max_connections,
            self.log,
        )
    }
}

fn ice_servers_from_flags(cli: &Cli) -> Vec<IceServer> {
    let mut servers = Vec::new();
    if !cli.stun.is_empty() {
        servers.push(IceServer {
            urls: cli.stun.clone(),
            username: None,
            credential: None,
        });
    }
    // With --turn-secret the TURN entry is minted per participant.
    if !cli.turn.is_empty() && cli.turn_secret.is_none() {
        servers.push(IceServer {
            urls: cli.turn.clone(),
            username: cli.turn_username.clone(),
            credential: cli.turn_credential.clone(),
        });
    }
    servers
}

#[cfg(test)]
mod tests;
