//! Short, per-process keyed tags for room names and participant ids, so
//! that logs at info level let an operator correlate events without
//! learning names (spec §1: room names are chosen by people and may say
//! who meets).
//!
//! The key is random at start (std's `RandomState`), so tags from two runs
//! of the server, or two servers, cannot be matched against each other or
//! against a list of guessed names without the process's memory.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use sotto_proto::{ParticipantId, RoomName};

static KEY: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();

/// Eight hex digits standing for a name in the logs.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogTag(u32);

impl LogTag {
    fn of(kind: u8, text: &str) -> LogTag {
        let key = KEY.get_or_init(Default::default);
        // The kind keeps a room and a participant with equal text apart.
        let hash = key.hash_one((kind, text));
        LogTag((hash >> 32) as u32)
    }

    /// The tag of a room name.
    pub fn room(name: &RoomName) -> LogTag {
        LogTag::of(b'r', name.as_str())
    }

    /// The tag of a participant id.
    pub fn participant(id: &ParticipantId) -> LogTag {
        LogTag::of(b'p', id.as_str())
    }
}

impl fmt::Display for LogTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl fmt::Debug for LogTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_stable_short_and_hide_the_name() {
        let room = RoomName::parse("quiet-otter-lamp-42").expect("valid");
        let tag = LogTag::room(&room).to_string();
        assert_eq!(tag.len(), 8);
        assert!(tag.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(tag, LogTag::room(&room).to_string());
        let other = RoomName::parse("quiet-otter-lamp-43").expect("valid");
        assert_ne!(LogTag::room(&room), LogTag::room(&other));
        assert_ne!(
            LogTag::room(&room),
            LogTag::participant(&ParticipantId::new("quiet-otter-lamp-42").expect("valid id"))
        );
    }
}
