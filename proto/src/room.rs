//! Room names and room links (spec/protocol.md §1).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Paths the server uses itself; no room may be called this.
const RESERVED: [&str; 6] = ["ws", "healthz", "metrics", "static", "api", "favicon.ico"];

/// A valid room name: 3 to 64 characters from `a-z`, `0-9` and `-`,
/// starting and ending with a letter or digit, not a reserved path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoomName(String);

/// Why a room name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoomNameError {
    /// Fewer than 3 or more than 64 characters.
    #[error("a room name has 3 to 64 characters, not {0}")]
    Length(usize),
    /// A character outside `a-z 0-9 -`.
    #[error("a room name uses only a-z, 0-9 and '-'")]
    Character,
    /// Starts or ends with `-`.
    #[error("a room name starts and ends with a letter or digit")]
    Edge,
    /// One of the server's own paths.
    #[error("'{0}' is reserved")]
    Reserved(String),
}

impl RoomName {
    /// Shortest name.
    pub const MIN_LEN: usize = 3;
    /// Longest name.
    pub const MAX_LEN: usize = 64;

    /// Checks `name` against the rules.
    pub fn parse(name: &str) -> Result<RoomName, RoomNameError> {
        let len = name.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(RoomNameError::Length(len));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(RoomNameError::Character);
        }
        if name.starts_with('-') || name.ends_with('-') {
            return Err(RoomNameError::Edge);
        }
        if RESERVED.contains(&name) {
            return Err(RoomNameError::Reserved(name.to_owned()));
        }
        Ok(RoomName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoomName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RoomName::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A room link, `https://HOST/ROOM#SECRET`, taken apart.
///
/// The fragment is kept as text: checking and decoding the secret is the
/// job of the crypto crate, and the server never sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct RoomLink {
    /// `http://` or `https://` plus host and optional port, no slash.
    pub origin: String,
    /// The room.
    pub room: RoomName,
    /// The fragment, if the link has one (the room secret).
    pub secret: Option<String>,
}

impl fmt::Debug for RoomLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomLink")
            .field("origin", &self.origin)
            .field("room", &self.room)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Why a link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// Not `http://` or `https://`.
    #[error("a room link starts with https:// or http://")]
    Scheme,
    /// No host.
    #[error("the room link has no host")]
    Host,
    /// The path is not a single room name.
    #[error("the room link's path must be /ROOM")]
    Path,
    /// The room name is invalid.
    #[error(transparent)]
    Room(#[from] RoomNameError),
}

impl RoomLink {
    /// Parses `https://HOST[:PORT]/ROOM[#SECRET]` (or `http://`).
    pub fn parse(link: &str) -> Result<RoomLink, LinkError> {
        let link = link.trim();
        let rest = link
            .strip_prefix("https://")
            .map(|r| ("https://", r))
            .or_else(|| link.strip_prefix("http://").map(|r| ("http://", r)));
        let Some((scheme, rest)) = rest else {
            return Err(LinkError::Scheme);
        };
        let (rest, secret) = match rest.split_once('#') {
            Some((r, s)) if !s.is_empty() => (r, Some(s.to_owned())),
            Some((r, _)) => (r, None),
            None => (rest, None),
        };
        let (host, path) = rest.split_once('/').ok_or(LinkError::Path)?;
        if host.is_empty() || host.contains(['?', '@', ' ']) {
            return Err(LinkError::Host);
        }
        let path = path.strip_suffix('/').unwrap_or(path);
        if path.contains(['/', '?']) {
            return Err(LinkError::Path);
        }
        Ok(RoomLink {
            origin: format!("{scheme}{host}"),
            room: RoomName::parse(path)?,
            secret,
        })
    }

    /// The signalling WebSocket URL of the link's server.
    pub fn websocket_url(&self) -> String {
        let ws = if let Some(host) = self.origin.strip_prefix("https://") {
            format!("wss://{host}")
        } else {
            format!("ws://{}", self.origin.trim_start_matches("http://"))
        };
        format!("{ws}/ws")
    }
}

impl fmt::Display for RoomLink {
    /// The full link, secret included: for showing to the user, never for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.origin, self.room)?;
        if let Some(s) = &self.secret {
            write!(f, "#{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_follow_the_rules() {
        for ok in ["abc", "quiet-otter-42", "a-b", &"x".repeat(64)] {
            assert!(RoomName::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(RoomName::parse("ab"), Err(RoomNameError::Length(2)));
        assert_eq!(
            RoomName::parse(&"x".repeat(65)),
            Err(RoomNameError::Length(65))
        );
        assert_eq!(RoomName::parse("Abc"), Err(RoomNameError::Character));
        assert_eq!(RoomName::parse("a/b"), Err(RoomNameError::Character));
        assert_eq!(RoomName::parse("ça-va"), Err(RoomNameError::Character));
        assert_eq!(RoomName::parse("-abc"), Err(RoomNameError::Edge));
        assert_eq!(
            RoomName::parse("metrics"),
            Err(RoomNameError::Reserved("metrics".into()))
        );
    }

    #[test]
    fn links_parse_and_print_back() {
        let l = RoomLink::parse("https://sotto.example:8443/quiet-otter#c2VjcmV0").expect("link");
        assert_eq!(l.origin, "https://sotto.example:8443");
        assert_eq!(l.room.as_str(), "quiet-otter");
        assert_eq!(l.secret.as_deref(), Some("c2VjcmV0"));
        assert_eq!(l.websocket_url(), "wss://sotto.example:8443/ws");
        assert_eq!(
            l.to_string(),
            "https://sotto.example:8443/quiet-otter#c2VjcmV0"
        );
        assert!(
            !format!("{l:?}").contains("c2VjcmV0"),
            "Debug hides the secret"
        );

        let l = RoomLink::parse("http://127.0.0.1:8080/abc").expect("link");
        assert_eq!(l.secret, None);
        assert_eq!(l.websocket_url(), "ws://127.0.0.1:8080/ws");
    }

    #[test]
    fn bad_links_are_refused() {
        assert_eq!(RoomLink::parse("ftp://x/abc"), Err(LinkError::Scheme));
        assert_eq!(RoomLink::parse("https://x"), Err(LinkError::Path));
        assert_eq!(RoomLink::parse("https:///abc"), Err(LinkError::Host));
        assert_eq!(RoomLink::parse("https://x/a/b"), Err(LinkError::Path));
        assert!(matches!(
            RoomLink::parse("https://x/AB"),
            Err(LinkError::Room(_))
        ));
    }
}
