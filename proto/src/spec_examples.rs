//! spec/protocol.md and these types describe the same protocol: every
//! example in the spec parses, re-encodes to the same JSON, and every
//! message type has at least one example.

use std::collections::BTreeSet;

use crate::{ClientMessage, ErrorCode, ServerMessage, decode_client, decode_server, encode};

const SPEC: &str = include_str!("../../spec/protocol.md");

/// `(direction, json)` for each fenced block tagged `json client` or
/// `json server`.
fn examples() -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    let mut lines = SPEC.lines();
    while let Some(line) = lines.next() {
        let dir = match line.trim() {
            "```json client" => "client",
            "```json server" => "server",
            _ => continue,
        };
        let body = lines.next().expect("example body");
        assert_eq!(
            lines.next().map(str::trim),
            Some("```"),
            "one line per example"
        );
        out.push((dir, body));
    }
    out
}

/// `message_type` is an exhaustive match: a new message type without a
/// name there does not compile, and without an example in the spec fails
/// the test below.
fn client_type(m: &ClientMessage) -> &'static str {
    m.message_type()
}

fn server_type(m: &ServerMessage) -> &'static str {
    m.message_type()
}

const CLIENT_TYPES: [&str; 9] = [
    "join",
    "key_package",
    "commit",
    "application",
    "refuse_knock",
    "media_restart",
    "sdp",
    "ice",
    "leave",
];

const SERVER_TYPES: [&str; 12] = [
    "joined",
    "become_creator",
    "join_request",
    "welcome",
    "commit",
    "commit_accepted",
    "application",
    "left",
    "refused",
    "sdp",
    "ice",
    "error",
];

fn same_json(a: &str, b: &str) -> bool {
    let a: serde_json::Value = serde_json::from_str(a).expect("json");
    let b: serde_json::Value = serde_json::from_str(b).expect("json");
    a == b
}

#[test]
fn every_example_parses_and_reencodes_identically() {
    let examples = examples();
    assert!(
        examples.len() >= 20,
        "found only {} examples",
        examples.len()
    );
    let mut client_seen = BTreeSet::new();
    let mut server_seen = BTreeSet::new();
    for (dir, json) in examples {
        if dir == "client" {
            let m = decode_client(json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert!(
                same_json(&encode(&m), json),
                "{json} re-encodes as {}",
                encode(&m)
            );
            client_seen.insert(client_type(&m));
        } else {
            let m = decode_server(json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert!(
                same_json(&encode(&m), json),
                "{json} re-encodes as {}",
                encode(&m)
            );
            server_seen.insert(server_type(&m));
        }
    }
    for t in CLIENT_TYPES {
        assert!(
            client_seen.contains(t),
            "no client example of `{t}` in spec/protocol.md"
        );
    }
    for t in SERVER_TYPES {
        assert!(
            server_seen.contains(t),
            "no server example of `{t}` in spec/protocol.md"
        );
    }
}

#[test]
fn every_error_code_is_in_the_spec_table() {
    for code in ErrorCode::ALL {
        let row = format!("| `{}` |", code.as_str());
        assert!(
            SPEC.contains(&row),
            "error code {} missing from §5",
            code.as_str()
        );
    }
}
