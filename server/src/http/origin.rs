//! Which web pages may open the signalling WebSocket.
//!
//! Browsers send `Origin` with every WebSocket handshake and let any page
//! open a WebSocket to any host, so without a check any web site its
//! visitors happen to open could use their browsers (and their addresses)
//! to join, knock on and flood rooms here. A handshake whose `Origin` is
//! present must therefore name this server: one of the configured public
//! origins (`--public-origin`), or, when none is configured, the host the
//! request was sent to (`Host`), whatever the scheme, since a reverse
//! proxy that terminates TLS talks plain HTTP to us. Native clients send
//! no `Origin` and are let through: they are not a browser someone else's
//! page can drive (RFC 6455 §10.2).

/// What the check compares against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins {
    /// Normalised `scheme://host[:port]`; empty: compare with `Host`.
    origins: Vec<String>,
}

/// A `--public-origin` that is not `http(s)://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an origin: write it as https://HOST or https://HOST:PORT")]
pub struct BadOrigin(pub String);

impl AllowedOrigins {
    /// Only the configured origins, or (with none) the request's own host.
    pub fn new(configured: &[String]) -> Result<AllowedOrigins, BadOrigin> {
        let origins = configured
            .iter()
            .map(|o| normalise(o).ok_or_else(|| BadOrigin(o.clone())))
            .collect::<Result<_, _>>()?;
        Ok(AllowedOrigins { origins })
    }

    /// Whether a handshake with these `Origin` and `Host` header values
    /// may upgrade.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        // "null" (sandboxed frames, file: pages) and anything unparsable
        // is no origin of ours.
        let Some(origin) = normalise(origin) else {
            return false;
        };
        if !self.origins.is_empty() {
            return self.origins.contains(&origin);
        }
        let Some(host) = host.map(|h| h.trim().to_ascii_lowercase()) else {
            return false;
        };
        let (_, authority) = origin.split_once("://").unwrap_or(("", &origin));
        strip_default_port(authority) == strip_default_port(&host)
    }
}

/// `scheme://host[:port]`, lowercased, without a trailing `/` or the
/// scheme's default port; `None` if it is not an http(s) origin.
fn normalise(origin: &str) -> Option<String> {
    let origin = origin.trim().to_ascii_lowercase();
    let origin = origin.strip_suffix('/').unwrap_or(&origin);
    let (scheme, authority) = origin.split_once("://")?;
    let default = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let well_formed = !authority.is_empty()
        && !authority.starts_with(':')
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    if !well_formed {
        return None;
    }
    let authority = authority.strip_suffix(default).unwrap_or(authority);
    Some(format!("{scheme}://{authority}"))
}

/// `host:80` and `host:443` are `host` (the scheme is not known here:
/// the origin may be https in front of a proxy that speaks http to us).
fn strip_default_port(authority: &str) -> &str {
    authority
        .strip_suffix(":80")
        .or_else(|| authority.strip_suffix(":443"))
        .unwrap_or(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_configuration_the_origin_must_name_the_host() {
        let own = AllowedOrigins::default();
        assert!(own.allows(None, Some("sotto.example")), "native clients");
        assert!(own.allows(Some("https://sotto.example"), Some("sotto.example")));
        assert!(own.allows(Some("http://Sotto.Example"), Some("sotto.example")));
        assert!(own.allows(Some("https://sotto.example"), Some("sotto.example:443")));
        assert!(own.allows(Some("http://127.0.0.1:8080"), Some("127.0.0.1:8080")));
        assert!(own.allows(Some("http://[::1]:8080"), Some("[::1]:8080")));
        for (origin, host) in [
            ("https://evil.example", Some("sotto.example")),
            ("https://sotto.example.evil.example", Some("sotto.example")),
            ("http://127.0.0.1:8081", Some("127.0.0.1:8080")),
            ("null", Some("sotto.example")),
            ("file://", Some("sotto.example")),
            ("https://sotto.example", None),
        ] {
            assert!(!own.allows(Some(origin), host), "{origin} at {host:?}");
        }
    }

    #[test]
    fn configured_origins_replace_the_host_comparison() {
        let allowed = AllowedOrigins::new(&[
            "https://call.example/".into(),
            "https://call.example:8443".into(),
        ])
        .expect("valid");
        // nginx's default passes the upstream as Host: only the list counts.
        assert!(allowed.allows(Some("https://call.example"), Some("127.0.0.1:8080")));
        assert!(allowed.allows(Some("https://call.example:443"), Some("x")));
        assert!(allowed.allows(Some("https://call.example:8443"), Some("x")));
        assert!(!allowed.allows(Some("http://call.example"), Some("call.example")));
        assert!(!allowed.allows(Some("https://127.0.0.1:8080"), Some("127.0.0.1:8080")));
        assert!(allowed.allows(None, None));
    }

    #[test]
    fn configured_origins_must_be_origins() {
        for bad in [
            "call.example",
            "https://",
            "ftp://call.example",
            "https://a/b",
        ] {
            assert_eq!(
                AllowedOrigins::new(&[bad.to_owned()]),
                Err(BadOrigin(bad.to_owned()))
            );
        }
    }
}
