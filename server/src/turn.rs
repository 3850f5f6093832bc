//! Expiring TURN credentials: coturn's `use-auth-secret` (the "TURN REST
//! API" of draft-uberti-behave-turn-rest-00 §2.2). The server and the TURN
//! server share a secret; each `joined` carries a username
//! `<unix expiry>:<participant id>` and, as its credential, the standard
//! base64 of HMAC-SHA1(secret, username). The TURN server checks both
//! without asking anyone, and a credential that leaks is good for 12 hours,
//! not for ever.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use sotto_proto::IceServer;

/// How long a minted credential is valid.
pub const TTL: Duration = Duration::from_secs(12 * 60 * 60);

/// The secret shared with the TURN server (coturn's `static-auth-secret`).
/// Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnSecret(String);

impl TurnSecret {
    /// Wraps the secret.
    pub fn new(secret: String) -> TurnSecret {
        TurnSecret(secret)
    }
}

impl fmt::Debug for TurnSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// TURN servers whose credentials are minted for each participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnRest {
    /// `turn:`/`turns:` URLs, all sharing the secret.
    pub urls: Vec<String>,
    /// The shared secret.
    pub secret: TurnSecret,
}

impl TurnRest {
    /// The ICE server entry for `label` (a participant id) at `now`: valid
    /// until `now` + [`TTL`]. A clock before 1970 counts as 1970.
    pub fn ice_server(&self, label: &str, now: SystemTime) -> IceServer {
        let expiry = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(TTL)
            .as_secs();
        let username = format!("{expiry}:{label}");
        IceServer {
            credential: Some(credential(&self.secret, &username)),
            username: Some(username),
            urls: self.urls.clone(),
        }
    }
}

/// base64(HMAC-SHA1(secret, username)), as coturn computes it. SHA-1 is
/// what the scheme (and every TURN server implementing it) uses; as an
/// HMAC it is not broken by SHA-1's collisions.
pub fn credential(secret: &TurnSecret, username: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.0.as_bytes());
    STANDARD.encode(hmac::sign(&key, username.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers computed independently, with Python's `hmac` and
    /// `hashlib.sha1`: `base64.b64encode(hmac.new(b"north-wind",
    /// b"1588550400:AAECAwQFBgcICQoL", hashlib.sha1).digest())`.
    #[test]
    fn credentials_match_the_known_answer() {
        let turn = TurnRest {
            urls: vec!["turn:turn.example:3478".into()],
            secret: TurnSecret::new("north-wind".into()),
        };
        // 2020-05-03 12:00:00 UTC.
        let now = UNIX_EPOCH + Duration::from_secs(1_588_507_200);
        let server = turn.ice_server("AAECAwQFBgcICQoL", now);
        assert_eq!(server.urls, vec!["turn:turn.example:3478".to_owned()]);
        assert_eq!(
            server.username.as_deref(),
            Some("1588550400:AAECAwQFBgcICQoL"),
            "expires 12 h later"
        );
        assert_eq!(
            server.credential.as_deref(),
            Some("eipfGwvuuGacwCmy22prv15sqE4=")
        );
    }

    #[test]
    fn the_secret_is_never_printed() {
        let turn = TurnRest {
            urls: vec!["turn:t:3478".into()],
            secret: TurnSecret::new("hunter2".into()),
        };
        assert!(!format!("{turn:?}").contains("hunter2"));
    }
}
