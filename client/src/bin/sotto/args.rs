//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// sotto: end-to-end encrypted video calls, from the command line.
///
/// A participant that does everything the browser client does except show
/// the picture: it joins a room from its link, sends video and audio from
/// files (encrypted with keys only the room's members hold), and records
/// what the others send, decrypted, to files. Useful for bots, load tests
/// and recording by a trusted participant.
#[derive(Debug, Parser)]
#[command(name = "sotto", version, propagate_version = true)]
#[command(after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

pub const EXIT_CODES: &str = "\
Exit codes:
  0  left the room (after --duration, on Ctrl-C, or on `leave` from stdin)
  1  internal error
  2  bad arguments, bad link or unreadable file
  3  cannot reach the server
  4  our knock was refused
  5  the server refused us (room full, bad room name, shutting down, ...)
  6  the connection was lost (with --no-reconnect)
  7  a commit removed us from the group
  8  refused a group not bound to this room (someone without the link made it)
";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Join a room from its link and stay until --duration or Ctrl-C.
    ///
    /// With the link's #secret we are let in at once; without it we knock
    /// and wait for a member to accept, or, when nobody is there, open the
    /// room and print its full link (which lets people straight in). Prints the room code (the same for
    /// every member: compare it out loud) and each member's fingerprint.
    /// Knocks from others are answered on stdin after comparing the
    /// fingerprint: `y`/`n` (the oldest knock), `accept ID`, `refuse ID`
    /// (or by --refuse-knocks; bots only: --bot-accepts-every-knock).
    /// Stdin also takes `remove ID` (remove a member from the group),
    /// `chat TEXT` and `leave`.
    #[command(after_help = EXIT_CODES)]
    Join(JoinArgs),
    /// Print a link to a fresh room: a random readable name and a new secret.
    ///
    /// Nothing is sent anywhere: the room exists once someone joins it.
    NewRoom {
        /// The server: `host[:port]`, or an origin such as
        /// `https://sotto.example`. Plain http:// is used for localhost only.
        host: String,
    },
    /// Create or show a persistent identity and its fingerprint.
    ///
    /// With a persistent identity your fingerprint stays the same from
    /// call to call, so people who verified it once can trust it again.
    Identity {
        /// The identity file (created, readable by you only, if absent).
        #[arg(long, value_name = "FILE", default_value_os_t = default_identity())]
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The room link: https://HOST/ROOM#SECRET (without #SECRET: knock).
    pub link: String,
    /// Display name, shown to the other members (sent end-to-end encrypted).
    #[arg(long)]
    pub name: Option<String>,
    /// Send this VP8 IVF file as camera video, looped (default: a built-in
    /// colour pattern).
    #[arg(long, value_name = "FILE.ivf", conflicts_with = "no_video")]
    pub send_video: Option<PathBuf>,
    /// Send this Ogg Opus file as microphone audio, looped (default: a
    /// built-in 440 Hz tone).
    #[arg(long, value_name = "FILE.ogg", conflicts_with = "no_audio")]
    pub send_audio: Option<PathBuf>,
    /// Send no video.
    #[arg(long)]
    pub no_video: bool,
    /// Send no audio.
    #[arg(long)]
    pub no_audio: bool,
    /// Record every other member's decrypted video (IVF) and audio (Ogg)
    /// into DIR, one file per member and source.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Leave after SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Use (or create) this persistent identity instead of a throwaway one.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// For bots only: let every knocker in without anyone seeing its
    /// fingerprint. WARNING: whoever the server sends in then gets in, so
    /// the server itself could join the call. A person answers knocks on
    /// stdin after comparing the fingerprint.
    #[arg(long, conflicts_with = "refuse_knocks")]
    pub bot_accepts_every_knock: bool,
    /// Refuse every knocker without asking.
    #[arg(long)]
    pub refuse_knocks: bool,
    /// Send this chat line once in the room (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub chat: Vec<String>,
    /// Print events as JSON lines (one object per line, field `event`).
    #[arg(long)]
    pub json: bool,
    /// Do not join again when the connection is lost: exit with code 6.
    #[arg(long)]
    pub no_reconnect: bool,
    /// Send media through the server's TURN relays only: the SFU sees the
    /// relay's address, not ours, and only the relay needs to be
    /// reachable (a firewall that blocks everything else).
    #[arg(long)]
    pub relay_only: bool,
    /// When leaving, write the media keys held into FILE (one base64 line
    /// per epoch). For tests and forensics: these keys decrypt the call.
    #[arg(long, value_name = "FILE", hide = true)]
    pub export_keys: Option<PathBuf>,
}

/// `$XDG_CONFIG_HOME/sotto/identity`, or `~/.config/sotto/identity`.
pub fn default_identity() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("sotto").join("identity")
}
