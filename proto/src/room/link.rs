//! Room links, `https://HOST/ROOM#SECRET` (spec §1).

use std::fmt;

use super::{RoomName, RoomNameError};

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
    /// Parses `https://HOST[:PORT]/ROOM[#SECRET]` (or `http://`). `ROOM`
    /// is taken as a browser would take it: percent-decoded and normalised
    /// ([`RoomName::from_path_segment`]), so that
    /// `https://HOST/Alice-and-Bob` is the room `alice-and-bob`.
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
            room: RoomName::from_path_segment(path)?,
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
    /// The full link, secret included: for showing to the user, never for
    /// logs. The room is in its canonical form, percent-encoded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.origin, self.room.path_segment())?;
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

        let l = RoomLink::parse("https://x/%C3%89mile-et-Zo%C3%A9#s").expect("link");
        assert_eq!(l.room.as_str(), "émile-et-zoé");
        assert_eq!(l.to_string(), "https://x/%C3%A9mile-et-zo%C3%A9#s");

        let l = RoomLink::parse("http://127.0.0.1:8080/abc").expect("link");
        assert_eq!(l.secret, None);
        assert_eq!(l.websocket_url(), "ws://127.0.0.1:8080/ws");
    }

    #[test]
    fn a_link_names_its_room_as_people_type_it() {
        for link in [
            "https://x/Alice-and-Bob-03-May-2020",
            "https://x/alice-and-bob-03-may-2020/",
            "https://x/alice_and_bob_03_may_2020",
        ] {
            let l = RoomLink::parse(link).expect(link);
            assert_eq!(l.room.as_str(), "alice-and-bob-03-may-2020", "{link}");
            assert_eq!(l.to_string(), "https://x/alice-and-bob-03-may-2020");
        }
    }

    #[test]
    fn bad_links_are_refused() {
        assert_eq!(RoomLink::parse("ftp://x/abc"), Err(LinkError::Scheme));
        assert_eq!(RoomLink::parse("https://x"), Err(LinkError::Path));
        assert_eq!(RoomLink::parse("https:///abc"), Err(LinkError::Host));
        assert_eq!(RoomLink::parse("https://x/a/b"), Err(LinkError::Path));
        assert_eq!(
            RoomLink::parse("https://x/AB"),
            Err(LinkError::Room(RoomNameError::TooShort { chars: 2 }))
        );
        assert_eq!(
            RoomLink::parse("https://x/a%2Fb%2Fc"),
            Err(LinkError::Room(RoomNameError::Character('/')))
        );
    }
}
