//! What `sotto join` prints: a readable line per event, or one JSON object
//! per line (`--json`) whose `event` field names it. Events go to stdout;
//! prompts and diagnostics to stderr.
//!
//! Text that other members chose (chat, display names) is printed with its
//! control characters escaped, so that a line can never pretend to be
//! another (a forged "room code" line, a cleared screen). Participant ids
//! are printable ASCII by construction (`sotto_proto::ParticipantId`).

use serde_json::{Value, json};
use sotto_client::room::{Ended, Event, MediaEvent, RoomEvent};
use sotto_crypto::session::Admission;

/// Splits digits into groups for reading aloud.
fn grouped(digits: &str, by: usize) -> String {
    digits
        .as_bytes()
        .chunks(by)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` with every control character (line breaks, escapes, bidi
/// overrides) shown as an escape instead of acting on the terminal.
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// The JSON form of an event (`None` for events not worth a line).
pub fn event_json(ev: &Event) -> Option<Value> {
    match ev {
        Event::Room(e) => room_json(e),
        Event::Media(e) => media_json(e),
        Event::PeerState { pc, state } => Some(json!({"event": "peer", "pc": pc, "state": state})),
        _ => None,
    }
}

fn room_json(ev: &RoomEvent) -> Option<Value> {
    Some(match ev {
        RoomEvent::Connected {
            participant,
            creator,
        } => json!({"event": "connected", "participant": participant, "creator": creator}),
        RoomEvent::Waiting { knocking } => json!({"event": "waiting", "knocking": knocking}),
        // Printed by `join`, which knows the link.
        RoomEvent::Opened { .. } => return None,
        RoomEvent::Joined {
            participant,
            epoch,
            room_code,
        } => json!({"event": "joined", "participant": participant, "epoch": epoch,
                    "room_code": room_code.digits()}),
        RoomEvent::EpochChanged { epoch, room_code } => {
            json!({"event": "epoch", "epoch": epoch, "room_code": room_code.digits()})
        }
        RoomEvent::MemberAdded {
            participant,
            fingerprint,
            admission,
            added_by,
            ..
        } => json!({"event": "member", "participant": participant,
                    "fingerprint": fingerprint.digits(), "admission": admission.as_str(),
                    "added_by": added_by}),
        RoomEvent::MemberRemoved {
            participant,
            removed_by,
        } => {
            json!({"event": "member_removed", "participant": participant, "removed_by": removed_by})
        }
        RoomEvent::Departed {
            participant,
            reason,
            member,
        } => json!({"event": "left", "participant": participant, "reason": reason.as_str(),
                    "member": member}),
        RoomEvent::RemovalOverdue { participant } => {
            json!({"event": "removal_overdue", "participant": participant})
        }
        RoomEvent::Knock {
            participant,
            fingerprint,
        } => json!({"event": "knock", "participant": participant,
                    "fingerprint": fingerprint.digits()}),
        RoomEvent::KnockClosed { participant } => {
            json!({"event": "knock_closed", "participant": participant})
        }
        RoomEvent::KeyPackageConflict { participant } => {
            json!({"event": "key_package_conflict", "participant": participant})
        }
        RoomEvent::Chat { from, text } => json!({"event": "chat", "from": from, "text": text}),
        RoomEvent::Name { from, name } => json!({"event": "name", "from": from, "name": name}),
        RoomEvent::Status { from, status } => json!({"event": "status", "from": from,
                    "mic": status.mic, "camera": status.camera, "hand": status.hand,
                    "recording": status.recording}),
        RoomEvent::Reaction { from, emoji } => {
            json!({"event": "reaction", "from": from, "emoji": emoji})
        }
        RoomEvent::Rejoining { after, reason } => json!({"event": "reconnecting",
                    "after_ms": after.as_millis() as u64, "reason": reason}),
        RoomEvent::MediaFailed { attempt } => json!({"event": "media_failed", "attempt": attempt}),
        RoomEvent::Warning { message } => json!({"event": "warning", "message": message}),
        // The end has its own line (`ended_json`).
        _ => return None,
    })
}

fn media_json(ev: &MediaEvent) -> Option<Value> {
    Some(match ev {
        MediaEvent::Started {
            participant,
            source,
        } => json!({"event": "media", "participant": participant, "source": source}),
        MediaEvent::DecryptFailures {
            participant,
            source,
            total,
            error,
        } => json!({"event": "decrypt_failures", "participant": participant,
                    "source": source, "total": total, "error": error.to_string()}),
        MediaEvent::Recovered {
            participant,
            source,
            after,
            failing_for,
            failures,
        } => json!({"event": "decrypt_recovered", "participant": participant,
                    "source": source, "after_ms": after.as_millis() as u64,
                    "failing_ms": failing_for.as_millis() as u64, "failures": failures}),
        MediaEvent::Ended {
            participant,
            source,
            frames,
            recording,
        } => json!({"event": "track_ended", "participant": participant,
                    "source": source, "frames": frames,
                    "recording": recording.as_ref().map(|p| p.display().to_string())}),
        _ => return None,
    })
}

/// The readable form of an event.
pub fn event_text(ev: &Event) -> Option<String> {
    match ev {
        Event::Room(e) => room_text(e),
        Event::Media(e) => media_text(e),
        Event::PeerState { pc, state } => Some(format!("{pc:?} connection {state}")),
        _ => None,
    }
}

fn room_text(ev: &RoomEvent) -> Option<String> {
    Some(match ev {
        RoomEvent::Connected {
            participant,
            creator,
        } => format!(
            "connected as {participant}{}",
            if *creator { ", opening the room" } else { "" }
        ),
        RoomEvent::Waiting { knocking: true } => {
            "knocking: waiting for a member to let us in (no #secret in the link)".into()
        }
        RoomEvent::Waiting { knocking: false } => "waiting for the members to add us".into(),
        RoomEvent::Opened { .. } => return None,
        RoomEvent::Joined {
            epoch, room_code, ..
        } => format!(
            "in the room (epoch {epoch}); room code {}",
            grouped(room_code.digits(), 4)
        ),
        RoomEvent::EpochChanged { epoch, room_code } => format!(
            "epoch {epoch}; room code {} (changed: compare it again)",
            grouped(room_code.digits(), 4)
        ),
        RoomEvent::MemberAdded {
            participant,
            fingerprint,
            admission,
            added_by,
            ..
        } => format!(
            "member {participant} fingerprint {}{}",
            grouped(fingerprint.digits(), 5),
            match (admission, added_by) {
                (Admission::Knock, Some(by)) => format!(" (let in after a knock, by {by})"),
                (Admission::Knock, None) => " (let in after a knock)".into(),
                _ => String::new(),
            }
        ),
        RoomEvent::MemberRemoved {
            participant,
            removed_by,
        } => match removed_by {
            Some(by) => format!("member {participant} removed (by {by})"),
            None => format!("member {participant} removed"),
        },
        RoomEvent::Departed {
            participant,
            reason,
            member: true,
        } => format!(
            "{participant} is leaving ({}); still in the group until a commit removes it",
            reason.as_str()
        ),
        RoomEvent::Departed {
            participant,
            reason,
            member: false,
        } => format!("{participant} left ({})", reason.as_str()),
        RoomEvent::RemovalOverdue { participant } => format!(
            "WARNING: the server says {participant} left, but no member removed it from the \
             group; remove it with `remove {participant}` if it should not be here"
        ),
        RoomEvent::Knock {
            participant,
            fingerprint,
        } => format!(
            "knock from {participant}, fingerprint {} (not verified: compare it with them)",
            grouped(fingerprint.digits(), 5)
        ),
        RoomEvent::KnockClosed { participant } => format!("knock from {participant} settled"),
        RoomEvent::KeyPackageConflict { participant } => format!(
            "WARNING: the server sent two different keys for {participant}: someone may be \
             trying to get in in their place. Their knock was dropped."
        ),
        RoomEvent::Chat { from, text } => format!("<{from}> {}", escaped(text)),
        RoomEvent::Name { from, name } => format!("{from} is called {}", escaped(name)),
        RoomEvent::Status { from, status } => {
            let mut said = vec![
                if status.mic { "microphone on" } else { "muted" },
                if status.camera {
                    "camera on"
                } else {
                    "camera off"
                },
            ];
            if status.hand {
                said.push("hand raised");
            }
            if status.recording {
                said.push("RECORDING the call");
            }
            format!("{from}: {}", said.join(", "))
        }
        RoomEvent::Reaction { from, emoji } => format!("{from} reacts {emoji}"),
        RoomEvent::Rejoining { after, reason } => {
            format!("{reason}; joining again in {:.1} s", after.as_secs_f64())
        }
        RoomEvent::MediaFailed { attempt } => format!(
            "cannot reach the media server (attempt {attempt}): UDP to the server may be \
             blocked on this network; trying again with new connections (the server's \
             operator can add a TURN server)"
        ),
        RoomEvent::Warning { message } => format!("warning: {}", escaped(message)),
        _ => return None,
    })
}

fn media_text(ev: &MediaEvent) -> Option<String> {
    Some(match ev {
        MediaEvent::Started {
            participant,
            source,
        } => format!("receiving {source} of {participant}"),
        MediaEvent::DecryptFailures {
            participant,
            source,
            total,
            error,
        } => format!("cannot decrypt {source} of {participant}: {total} frames dropped ({error})"),
        MediaEvent::Recovered {
            participant,
            source,
            after,
            failures,
            ..
        } => format!(
            "{source} of {participant} decrypts again after {:.1} s ({failures} frames dropped)",
            after.as_secs_f64()
        ),
        MediaEvent::Ended {
            participant,
            source,
            frames,
            recording,
        } => format!(
            "{source} of {participant} ended: {frames} frames{}",
            recording
                .as_ref()
                .map(|p| format!(", recorded to {}", p.display()))
                .unwrap_or_default()
        ),
        _ => return None,
    })
}

/// The JSON line printed at exit.
pub fn ended_json(ended: &Ended, code: u8) -> Value {
    json!({"event": "ended", "reason": ended.to_string(), "exit_code": code})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_forge_a_line() {
        let forged = "hi\nin the room (epoch 9); room code 0000 0000 0000\u{1b}[2J\u{202e}";
        let shown = escaped(forged);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown}");
        assert!(
            shown.contains("\\u{a}") && shown.contains("\\u{1b}") && shown.contains("\\u{202e}")
        );
        assert_eq!(escaped("bonjour à tous"), "bonjour à tous");
    }
}
