//! `sotto join`.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use serde_json::json;
use sotto_client::media::fixtures;
use sotto_client::media::source::FrameSource;
use sotto_client::room::{Ended, Event, JoinOptions, KnockPolicy, MediaEvent, Room, RoomEvent};
use sotto_crypto::identity::Identity;
use sotto_crypto::verify::Fingerprint;
use sotto_proto::{ParticipantId, RoomLink, TrackSource};
use tokio::io::AsyncBufReadExt;

use crate::args::JoinArgs;
use crate::output::{ended_json, event_json, event_text};
use crate::{Exit, identity_file};

fn load_media(
    path: Option<&Path>,
    builtin: &'static [u8],
    parse: fn(&[u8]) -> Result<FrameSource, sotto_client::media::FileError>,
) -> Result<FrameSource, Exit> {
    match path {
        None => parse(builtin).map_err(|e| Exit::internal(anyhow::anyhow!(e))),
        Some(p) => {
            let bytes = std::fs::read(p)
                .map_err(|e| Exit::usage(format!("cannot read {}: {e}", p.display())))?;
            parse(&bytes).map_err(|e| Exit::usage(format!("{}: {e}", p.display())))
        }
    }
}

struct Printer {
    json: bool,
}

impl Printer {
    fn event(&self, ev: &Event) {
        let line = if self.json {
            event_json(ev).map(|v| v.to_string())
        } else {
            event_text(ev)
        };
        if let Some(line) = line {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    fn line(&self, value: serde_json::Value, text: String) {
        let mut out = std::io::stdout().lock();
        let _ = if self.json {
            writeln!(out, "{value}")
        } else {
            writeln!(out, "{text}")
        };
        let _ = out.flush();
    }
}

/// What was received, for the summary printed at exit.
#[derive(Default)]
struct Tally {
    frames: HashMap<(ParticipantId, TrackSource), u64>,
    failures: HashMap<(ParticipantId, TrackSource), u64>,
}

impl Tally {
    fn note(&mut self, ev: &Event) {
        match ev {
            Event::Media(MediaEvent::Ended {
                participant,
                source,
                frames,
                ..
            }) => {
                *self
                    .frames
                    .entry((participant.clone(), *source))
                    .or_default() += frames;
            }
            Event::Media(MediaEvent::DecryptFailures {
                participant,
                source,
                total,
                ..
            }) => {
                let f = self
                    .failures
                    .entry((participant.clone(), *source))
                    .or_default();
                *f = (*f).max(*total);
            }
            _ => {}
        }
    }

    fn print(&self, printer: &Printer) {
        let mut keys: Vec<_> = self
            .frames
            .keys()
            .chain(self.failures.keys())
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        let tracks: Vec<_> = keys
            .iter()
            .map(|k| {
                json!({"participant": k.0, "source": k.1.as_str(),
                       "frames": self.frames.get(k).copied().unwrap_or(0),
                       "decrypt_failures": self.failures.get(k).copied().unwrap_or(0)})
            })
            .collect();
        let text = keys
            .iter()
            .map(|k| {
                format!(
                    "  {} {}: {} frames, {} not decrypted",
                    k.0,
                    k.1.as_str(),
                    self.frames.get(k).copied().unwrap_or(0),
                    self.failures.get(k).copied().unwrap_or(0)
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        printer.line(
            json!({"event": "summary", "tracks": tracks}),
            if text.is_empty() {
                "received nothing".into()
            } else {
                format!("received:\n{text}")
            },
        );
    }
}

enum Input {
    Yes,
    No,
    Accept(ParticipantId),
    Refuse(ParticipantId),
    Remove(ParticipantId),
    Chat(String),
    Leave,
}

/// One line typed on stdin; `Err` says what is wrong with it.
fn parse_input(line: &str) -> Result<Input, String> {
    let line = line.trim();
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    let id = || ParticipantId::new(rest).map_err(|_| format!("{:?} is not a participant id", rest));
    Ok(match word {
        "y" | "yes" => Input::Yes,
        "n" | "no" => Input::No,
        "accept" if !rest.is_empty() => Input::Accept(id()?),
        "refuse" if !rest.is_empty() => Input::Refuse(id()?),
        "remove" if !rest.is_empty() => Input::Remove(id()?),
        "accept" => Input::Yes,
        "refuse" => Input::No,
        "chat" if !rest.is_empty() => Input::Chat(rest.to_owned()),
        "leave" | "quit" => Input::Leave,
        _ => {
            return Err("commands: y, n, accept ID, refuse ID, remove ID, chat TEXT, leave".into());
        }
    })
}

async fn write_keys(room: &Room, path: &Path) -> anyhow::Result<()> {
    let keys = room.held_keys().await;
    let mut text = String::new();
    for k in keys {
        text.push_str(&base64::engine::general_purpose::STANDARD.encode(k.to_bytes().as_slice()));
        text.push('\n');
    }
    identity_file::write_private(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

pub async fn run(args: JoinArgs) -> Result<(), Exit> {
    let link = RoomLink::parse(&args.link).map_err(|e| Exit::usage(format!("bad link: {e}")))?;
    let identity = match &args.identity {
        Some(path) => identity_file::load_or_create(path)?.0,
        None => Identity::generate().map_err(|e| Exit::internal(anyhow::anyhow!(e)))?,
    };
    let mut options = JoinOptions::new(link.clone(), identity);
    options.name = args.name.clone();
    options.relay_only = args.relay_only;
    if !args.no_video {
        options.video = Some(load_media(
            args.send_video.as_deref(),
            fixtures::PATTERN_IVF,
            FrameSource::vp8_ivf,
        )?);
    }
    if !args.no_audio {
        options.audio = Some(load_media(
            args.send_audio.as_deref(),
            fixtures::TONE_OGG,
            FrameSource::opus_ogg,
        )?);
    }
    if let Some(dir) = &args.record {
        std::fs::create_dir_all(dir)
            .map_err(|e| Exit::usage(format!("cannot create {}: {e}", dir.display())))?;
        options.record_dir = Some(dir.clone());
    }
    options.knocks = if args.bot_accepts_every_knock {
        KnockPolicy::AcceptAllBotOnly
    } else if args.refuse_knocks {
        KnockPolicy::Refuse
    } else {
        KnockPolicy::Ask
    };
    options.reconnect = !args.no_reconnect;

    let (room, mut events) =
        Room::join(options).map_err(|e| Exit::usage(format!("bad link: {e}")))?;
    let printer = Printer { json: args.json };
    let mut tally = Tally::default();
    // Knocks waiting for an answer, with the fingerprint printed for each:
    // an answer accepts exactly what was shown.
    let mut knocks: VecDeque<(ParticipantId, Fingerprint)> = VecDeque::new();
    let mut chats_sent = false;
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let deadline = args
        .duration
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map(|d| tokio::time::Instant::now() + Duration::from_secs_f64(d));
    let stop = async {
        match deadline {
            Some(t) => tokio::time::sleep_until(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    let interrupt = shutdown_signal();
    tokio::pin!(interrupt);

    let ask_knocks = !args.bot_accepts_every_knock && !args.refuse_knocks;
    let ended = loop {
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else {
                    break None;
                };
                tally.note(&ev);
                if let Event::Room(RoomEvent::Opened { fragment }) = &ev {
                    let full = RoomLink {
                        secret: Some(fragment.clone()),
                        ..link.clone()
                    };
                    printer.line(
                        json!({"event": "opened", "link": full.to_string()}),
                        format!(
                            "nobody was here: we opened the room. Its full link lets people \
                             straight in (share it only with them); whoever comes by the name \
                             knocks:\n{full}"
                        ),
                    );
                } else {
                    printer.event(&ev);
                }
                match &ev {
                    Event::Room(RoomEvent::Joined { .. }) if !chats_sent => {
                        chats_sent = true;
                        for line in &args.chat {
                            room.chat(line.clone());
                        }
                    }
                    Event::Room(RoomEvent::Knock { participant, fingerprint }) if ask_knocks => {
                        knocks.push_back((participant.clone(), fingerprint.clone()));
                        eprintln!(
                            "let {participant} in? Compare its fingerprint with them first. \
                             [y/n] (or `accept ID` / `refuse ID`)"
                        );
                    }
                    Event::Room(
                        RoomEvent::KnockClosed { participant }
                        | RoomEvent::KeyPackageConflict { participant },
                    ) => knocks.retain(|(k, _)| k != participant),
                    _ => {}
                }
            }
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) => match parse_input(&line) {
                    Ok(Input::Yes) => match knocks.pop_front() {
                        Some((k, shown)) => room.accept_knock(k, shown),
                        None => eprintln!("no knock is waiting"),
                    },
                    Ok(Input::No) => match knocks.pop_front() {
                        Some((k, _)) => room.refuse_knock(k),
                        None => eprintln!("no knock is waiting"),
                    },
                    Ok(Input::Accept(p)) => match knocks.iter().position(|(k, _)| *k == p) {
                        Some(i) => {
                            if let Some((k, shown)) = knocks.remove(i) {
                                room.accept_knock(k, shown);
                            }
                        }
                        None => eprintln!("no knock from {p} is waiting"),
                    },
                    Ok(Input::Refuse(p)) => {
                        knocks.retain(|(k, _)| *k != p);
                        room.refuse_knock(p);
                    }
                    Ok(Input::Remove(p)) => room.remove(p),
                    Ok(Input::Chat(text)) => room.chat(text),
                    Ok(Input::Leave) => break None,
                    Err(help) => eprintln!("{help}"),
                },
                // No terminal (or it closed): keep running until the end.
                Ok(None) | Err(_) => stdin_open = false,
            },
            _ = &mut stop => break None,
            _ = &mut interrupt => break None,
        }
    };
    let ended = match ended {
        Some(e) => e,
        None => {
            if let Some(path) = &args.export_keys
                && let Err(e) = write_keys(&room, path).await
            {
                eprintln!("sotto: {e:#}");
            }
            let ended = room.leave().await;
            // The last events (tracks ending with their recordings).
            while let Ok(ev) = events.try_recv() {
                tally.note(&ev);
                printer.event(&ev);
            }
            ended
        }
    };
    tally.print(&printer);
    let exit = Exit::from_ended(&ended);
    printer.line(ended_json(&ended, exit.code), format!("{ended}"));
    if exit.code == 0 { Ok(()) } else { Err(exit) }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

impl Exit {
    fn from_ended(ended: &Ended) -> Exit {
        let code = match ended {
            Ended::Left => 0,
            Ended::Unreachable(_) => 3,
            Ended::Refused => 4,
            Ended::Server { .. } => 5,
            Ended::Lost(_) => 6,
            Ended::Removed => 7,
            Ended::GhostRoom => 8,
            _ => 1,
        };
        Exit {
            code,
            message: None,
        }
    }
}
