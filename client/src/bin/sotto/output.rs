//! What `sotto join` prints: a readable line per event, or one JSON object
//! per line (`--json`) whose `event` field names it. Events go to stdout;
//! prompts and diagnostics to stderr.

use serde_json::{Value, json};
use sotto_client::room::{Ended, Event};
use sotto_crypto::session::Admission;
use sotto_proto::{LeaveReason, TrackSource};

/// Splits digits into groups of five for reading aloud.
fn grouped(digits: &str, by: usize) -> String {
    digits
        .as_bytes()
        .chunks(by)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn source_name(source: TrackSource) -> &'static str {
    match source {
        TrackSource::Mic => "mic",
        TrackSource::Camera => "camera",
        TrackSource::Screen => "screen",
        TrackSource::ScreenAudio => "screen_audio",
    }
}

fn admission_name(a: Admission) -> &'static str {
    match a {
        Admission::Link => "link",
        Admission::Knock => "knock",
        Admission::Unverifiable => "unverifiable",
    }
}

fn reason_name(r: LeaveReason) -> &'static str {
    match r {
        LeaveReason::Leave => "leave",
        LeaveReason::Disconnect => "disconnect",
        LeaveReason::Timeout => "timeout",
        LeaveReason::IceFailed => "ice_failed",
        LeaveReason::Refused => "refused",
        LeaveReason::Policy => "policy",
        _ => "unknown",
    }
}

/// The JSON form of an event (`None` for events not worth a line).
pub fn event_json(ev: &Event) -> Option<Value> {
    Some(match ev {
        Event::Connected {
            participant,
            creator,
        } => json!({"event": "connected", "participant": participant, "creator": creator}),
        Event::Waiting { knocking } => json!({"event": "waiting", "knocking": knocking}),
        Event::Joined {
            participant,
            epoch,
            room_code,
        } => json!({"event": "joined", "participant": participant, "epoch": epoch,
                    "room_code": room_code.digits()}),
        Event::EpochChanged { epoch, room_code } => {
            json!({"event": "epoch", "epoch": epoch, "room_code": room_code.digits()})
        }
        Event::MemberJoined {
            participant,
            fingerprint,
            admission,
        } => json!({"event": "member", "participant": participant,
                    "fingerprint": fingerprint.digits(), "admission": admission_name(*admission)}),
        Event::MemberRemoved { participant } => {
            json!({"event": "member_removed", "participant": participant})
        }
        Event::Departed {
            participant,
            reason,
        } => json!({"event": "left", "participant": participant, "reason": reason_name(*reason)}),
        Event::Knock {
            participant,
            fingerprint,
        } => json!({"event": "knock", "participant": participant,
                    "fingerprint": fingerprint.digits()}),
        Event::KnockClosed { participant } => {
            json!({"event": "knock_closed", "participant": participant})
        }
        Event::Chat { from, text } => json!({"event": "chat", "from": from, "text": text}),
        Event::Name { from, name } => json!({"event": "name", "from": from, "name": name}),
        Event::MediaStarted {
            participant,
            source,
        } => json!({"event": "media", "participant": participant, "source": source_name(*source)}),
        Event::DecryptFailures {
            participant,
            source,
            total,
            error,
        } => json!({"event": "decrypt_failures", "participant": participant,
                    "source": source_name(*source), "total": total, "error": error.to_string()}),
        Event::DecryptRecovered {
            participant,
            source,
            after,
            failing_for,
            failures,
        } => json!({"event": "decrypt_recovered", "participant": participant,
                    "source": source_name(*source), "after_ms": after.as_millis() as u64,
                    "failing_ms": failing_for.as_millis() as u64, "failures": failures}),
        Event::TrackEnded {
            participant,
            source,
            frames,
            recording,
        } => json!({"event": "track_ended", "participant": participant,
                    "source": source_name(*source), "frames": frames,
                    "recording": recording.as_ref().map(|p| p.display().to_string())}),
        Event::PeerState { pc, state } => json!({"event": "peer", "pc": pc, "state": state}),
        Event::Reconnecting { after, reason } => json!({"event": "reconnecting",
                    "after_ms": after.as_millis() as u64, "reason": reason}),
        Event::Warning { message } => json!({"event": "warning", "message": message}),
        _ => return None,
    })
}

/// The readable form of an event.
pub fn event_text(ev: &Event) -> Option<String> {
    Some(match ev {
        Event::Connected {
            participant,
            creator,
        } => format!(
            "connected as {participant}{}",
            if *creator { ", opening the room" } else { "" }
        ),
        Event::Waiting { knocking: true } => {
            "knocking: waiting for a member to let us in (no #secret in the link)".into()
        }
        Event::Waiting { knocking: false } => "waiting for the members to add us".into(),
        Event::Joined {
            epoch, room_code, ..
        } => format!(
            "in the room (epoch {epoch}); room code {}",
            grouped(room_code.digits(), 4)
        ),
        Event::EpochChanged { epoch, room_code } => format!(
            "epoch {epoch}; room code {}",
            grouped(room_code.digits(), 4)
        ),
        Event::MemberJoined {
            participant,
            fingerprint,
            admission,
        } => format!(
            "member {participant} fingerprint {}{}",
            grouped(fingerprint.digits(), 5),
            match admission {
                Admission::Knock => " (let in after a knock)",
                _ => "",
            }
        ),
        Event::MemberRemoved { participant } => format!("member {participant} removed"),
        Event::Departed {
            participant,
            reason,
        } => format!("{participant} left ({})", reason_name(*reason)),
        Event::Knock {
            participant,
            fingerprint,
        } => format!(
            "knock from {participant}, fingerprint {}",
            grouped(fingerprint.digits(), 5)
        ),
        Event::KnockClosed { participant } => format!("knock from {participant} settled"),
        Event::Chat { from, text } => format!("<{from}> {text}"),
        Event::Name { from, name } => format!("{from} is called {name}"),
        Event::MediaStarted {
            participant,
            source,
        } => format!("receiving {} of {participant}", source_name(*source)),
        Event::DecryptFailures {
            participant,
            source,
            total,
            error,
        } => format!(
            "cannot decrypt {} of {participant}: {total} frames dropped ({error})",
            source_name(*source)
        ),
        Event::DecryptRecovered {
            participant,
            source,
            after,
            failures,
            ..
        } => format!(
            "{} of {participant} decrypts again after {:.1} s ({failures} frames dropped)",
            source_name(*source),
            after.as_secs_f64()
        ),
        Event::TrackEnded {
            participant,
            source,
            frames,
            recording,
        } => format!(
            "{} of {participant} ended: {frames} frames{}",
            source_name(*source),
            recording
                .as_ref()
                .map(|p| format!(", recorded to {}", p.display()))
                .unwrap_or_default()
        ),
        Event::PeerState { pc, state } => format!("{pc:?} connection {state}"),
        Event::Reconnecting { after, reason } => format!(
            "connection lost ({reason}); joining again in {:.1} s",
            after.as_secs_f64()
        ),
        Event::Warning { message } => format!("warning: {message}"),
        _ => return None,
    })
}

/// The JSON line printed at exit.
pub fn ended_json(ended: &Ended, code: u8) -> Value {
    json!({"event": "ended", "reason": ended.to_string(), "exit_code": code})
}
