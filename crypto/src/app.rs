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
//!
//! Unknown fields are ignored. A message of an unknown `type` is reported
//! (so newer clients can add types) and otherwise ignored; it never breaks
//! the session.

use serde::{Deserialize, Serialize};

/// Longest chat text, in UTF-8 bytes.
pub const MAX_CHAT_BYTES: usize = 4096;
/// Longest display name, in Unicode scalar values.
pub const MAX_NAME_CHARS: usize = 64;
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
        if !matches!(kind, "chat" | "profile" | "ack") {
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
            AppMessage::decode(br#"{"type":"reaction","emoji":"+1"}"#),
            Ok(Decoded::Unknown {
                kind: "reaction".into()
            })
        );
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
