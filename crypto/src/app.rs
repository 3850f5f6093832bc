//! Application messages: what members say to each other inside MLS.
//!
//! Each is the UTF-8 JSON object of an MLS application message (RFC 9420
//! §6.3.1 PrivateMessage, so the server relays it opaquely), with a `type`:
//!
//! | type | fields | meaning |
//! |---|---|---|
//! | `chat` | `text`: string, at most [`MAX_CHAT_BYTES`] UTF-8 bytes | a chat line |
//! | `profile` | `name`: string, 1 to [`MAX_NAME_CHARS`] characters, no control characters | the sender's display name |
//! | `ack` | `epoch`: integer | the sender holds the media key of `epoch` |
//! | `status` | `mic`, `camera`, `hand`, `recording`: booleans (missing: false) | what the sender says of itself: microphone on, camera on, hand raised, recording the call |
//! | `reaction` | `emoji`: one of [`REACTIONS`] | a passing reaction |
//!
//! Unknown fields are ignored. A message of an unknown `type` is reported
//! (so newer clients can add types) and otherwise ignored; it never breaks
//! the session.

use serde::{Deserialize, Serialize};

/// Longest chat text, in UTF-8 bytes.
pub const MAX_CHAT_BYTES: usize = 4096;
/// Longest display name, in Unicode scalar values.
pub const MAX_NAME_CHARS: usize = 64;
/// The reactions a member can send (anything else is refused: a
/// reaction is shown large on everyone's screen, so it is not free text).
pub const REACTIONS: [&str; 6] = ["👍", "👏", "😂", "❤️", "🎉", "😮"];
/// Longest application message accepted, in bytes, before parsing.
pub const MAX_APP_MESSAGE_BYTES: usize = 16 * 1024;

/// A message members exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AppMessage {
    /// A chat line.
    Chat {
        /// The text.
        text: String,
    },
    /// The sender's display name.
    Profile {
        /// The name.
        name: String,
    },
    /// The sender holds the media key of `epoch` and is ready for others to
    /// send with it.
    Ack {
        /// The acknowledged epoch.
        epoch: u64,
    },
    /// What the sender says of itself, whole (each message replaces the
    /// last one). Sent when it changes and to every member who joins.
    Status(Status),
    /// A passing reaction.
    Reaction {
        /// One of [`REACTIONS`].
        emoji: String,
    },
}

/// A member's own word on its state; the server never sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Its microphone is on (not muted).
    #[serde(default)]
    pub mic: bool,
    /// Its camera is on.
    #[serde(default)]
    pub camera: bool,
    /// Its hand is raised.
    #[serde(default)]
    pub hand: bool,
    /// It records the call (on its own machine: what it decrypts).
    #[serde(default)]
    pub recording: bool,
}

/// Why an application message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// Longer than [`MAX_APP_MESSAGE_BYTES`].
    #[error("application message of {0} bytes is too long")]
    TooLong(usize),
    /// Not a JSON object with a string `type`, or a known type with
    /// missing or mistyped fields.
    #[error("malformed application message: {0}")]
    Malformed(String),
    /// Chat text over [`MAX_CHAT_BYTES`].
    #[error("chat text of {0} bytes is too long")]
    ChatTooLong(usize),
    /// A display name that is empty, too long or has control characters.
    #[error("invalid display name")]
    BadName,
    /// A reaction that is not one of [`REACTIONS`].
    #[error("not a reaction sotto shows")]
    BadReaction,
}

/// A decoded application message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A message this code understands.
    Known(AppMessage),
    /// A well-formed object whose `type` this code does not know.
    Unknown {
        /// The `type` (at most 64 bytes of it).
        kind: String,
    },
}

impl AppMessage {
    /// Checks the limits of the table above.
    pub fn validate(&self) -> Result<(), AppError> {
        match self {
            AppMessage::Chat { text } if text.len() > MAX_CHAT_BYTES => {
                Err(AppError::ChatTooLong(text.len()))
            }
            AppMessage::Profile { name } => {
                let n = name.chars().count();
                if n == 0 || n > MAX_NAME_CHARS || name.chars().any(char::is_control) {
                    Err(AppError::BadName)
                } else {
                    Ok(())
                }
            }
            AppMessage::Reaction { emoji } if !REACTIONS.contains(&emoji.as_str()) => {
                Err(AppError::BadReaction)
            }
            _ => Ok(()),
        }
    }

    /// The JSON bytes of this message, after checking its limits.
    pub fn encode(&self) -> Result<Vec<u8>, AppError> {
        self.validate()?;
        serde_json::to_vec(self).map_err(|e| AppError::Malformed(e.to_string()))
    }

    /// Parses and checks a received message.
    pub fn decode(bytes: &[u8]) -> Result<Decoded, AppError> {
        if bytes.len() > MAX_APP_MESSAGE_BYTES {
            return Err(AppError::TooLong(bytes.len()));
        }
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| AppError::Malformed(e.to_string()))?;
        let kind = value
            .as_object()
            .and_then(|o| o.get("type"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| AppError::Malformed("not an object with a string \"type\"".into()))?;
        if !matches!(kind, "chat" | "profile" | "ack" | "status" | "reaction") {
            let mut kind = kind.to_owned();
            if kind.len() > 64 {
                let mut end = 64;
                while !kind.is_char_boundary(end) {
                    end -= 1;
                }
                kind.truncate(end);
            }
            return Ok(Decoded::Unknown { kind });
        }
        let msg: AppMessage =
            serde_json::from_value(value).map_err(|e| AppError::Malformed(e.to_string()))?;
        msg.validate()?;
        Ok(Decoded::Known(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_is_the_documented_json() {
        let chat = AppMessage::Chat { text: "hi".into() };
        assert_eq!(
            chat.encode().expect("encodes"),
            br#"{"type":"chat","text":"hi"}"#
        );
        assert_eq!(
            AppMessage::Ack { epoch: 7 }.encode().expect("encodes"),
            br#"{"type":"ack","epoch":7}"#
        );
        assert_eq!(
            AppMessage::decode(br#"{"name":"Ada","type":"profile","extra":1}"#),
            Ok(Decoded::Known(AppMessage::Profile { name: "Ada".into() }))
        );
    }

    #[test]
    fn unknown_types_are_reported_not_refused() {
        assert_eq!(
            AppMessage::decode(br#"{"type":"poll","question":"lunch?"}"#),
            Ok(Decoded::Unknown {
                kind: "poll".into()
            })
        );
    }

    #[test]
    fn status_and_reactions_have_their_documented_form() {
        let status = AppMessage::Status(Status {
            mic: true,
            camera: false,
            hand: true,
            recording: false,
        });
        assert_eq!(
            status.encode().expect("encodes"),
            br#"{"type":"status","mic":true,"camera":false,"hand":true,"recording":false}"#
        );
        // Fields a sender leaves out are false; unknown ones are ignored.
        assert_eq!(
            AppMessage::decode(br#"{"type":"status","camera":true,"lamp":1}"#),
            Ok(Decoded::Known(AppMessage::Status(Status {
                camera: true,
                ..Status::default()
            })))
        );
        for emoji in REACTIONS {
            let r = AppMessage::Reaction {
                emoji: emoji.into(),
            };
            assert_eq!(
                AppMessage::decode(&r.encode().expect("encodes")),
                Ok(Decoded::Known(r))
            );
        }
        for bad in ["", "+1", "👍👍", "<b>hi</b>"] {
            let r = AppMessage::Reaction { emoji: bad.into() };
            assert_eq!(r.encode(), Err(AppError::BadReaction), "{bad:?}");
            let wire = format!(
                r#"{{"type":"reaction","emoji":{}}}"#,
                serde_json::json!(bad)
            );
            assert_eq!(
                AppMessage::decode(wire.as_bytes()),
                Err(AppError::BadReaction)
            );
        }
        assert!(matches!(
            AppMessage::decode(br#"{"type":"status","mic":"yes"}"#),
            Err(AppError::Malformed(_))
        ));
    }

    #[test]
    fn limits_and_malformed_inputs_are_errors() {
        let long = AppMessage::Chat {
            text: "x".repeat(MAX_CHAT_BYTES + 1),
        };
        assert_eq!(
            long.encode(),
            Err(AppError::ChatTooLong(MAX_CHAT_BYTES + 1))
        );
        for bad in ["", "\u{7}", &"n".repeat(MAX_NAME_CHARS + 1)] {
            let p = AppMessage::Profile { name: bad.into() };
            assert_eq!(p.encode(), Err(AppError::BadName), "{bad:?}");
        }
        for bad in [
            &b"not json"[..],
            b"[]",
            br#"{"type":1}"#,
            br#"{"type":"chat"}"#,
            br#"{"type":"ack","epoch":-1}"#,
            b"\xff\xfe",
        ] {
            assert!(
                matches!(AppMessage::decode(bad), Err(AppError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            AppMessage::decode(&vec![b' '; MAX_APP_MESSAGE_BYTES + 1]),
            Err(AppError::TooLong(MAX_APP_MESSAGE_BYTES + 1))
        );
    }
}
