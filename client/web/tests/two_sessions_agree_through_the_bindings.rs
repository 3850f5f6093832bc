//! The page's drive loop, natively: two [`Session`]s driven only through
//! what JavaScript sees (JSON outputs and events, base64 on the wire,
//! milliseconds for time), their epoch keys handed to two
//! [`FrameCrypto`]s as the Worker gets them. Error paths throw JS errors,
//! which exist only in a browser: tests/browser/ covers those.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use sotto_web::frames::FrameCrypto;
use sotto_web::session::{Session, generate_identity, generate_secret, identity_fingerprint};

fn bytes(v: &Value, field: &str) -> Vec<u8> {
    B64.decode(v[field].as_str().expect("a base64 field"))
        .expect("base64")
}

fn outputs(s: &mut Session) -> Vec<Value> {
    std::iter::from_fn(|| s.poll_output())
        .map(|o| serde_json::from_str(&o).expect("outputs are JSON"))
        .collect()
}

fn events(s: &mut Session) -> Vec<Value> {
    std::iter::from_fn(|| s.poll_event())
        .map(|e| serde_json::from_str(&e).expect("events are JSON"))
        .collect()
}

#[test]
fn a_joiner_with_the_link_is_admitted_and_media_flows_between_them() {
    let secret = generate_secret().expect("a secret");
    let (id_a, id_b) = (
        generate_identity().expect("identity"),
        generate_identity().expect("identity"),
    );
    let mut now = 1_700_000_000_000.0;
    let mut alice =
        Session::create(&id_a, "alice", "quiet-otter-lamp-42", &secret, now).expect("create");
    let mut bob =
        Session::join(&id_b, "bob", "quiet-otter-lamp-42", Some(secret.clone())).expect("join");
    alice.set_profile("Alice").expect("profile");
    bob.set_profile("Bob").expect("profile");
    assert_eq!(
        alice.fingerprint(),
        identity_fingerprint(&id_a).expect("fp")
    );

    // bob -> server -> alice: the KeyPackage, as spec/protocol.md §3 has it.
    let out = outputs(&mut bob);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["type"], "key_package");
    alice
        .handle_join_request("bob", &bytes(&out[0], "key_package"), now)
        .expect("join request");
    now = alice.poll_timeout().expect("a commit is due");
    alice.tick(now).expect("tick");
    let commit = outputs(&mut alice)
        .into_iter()
        .find(|o| o["type"] == "commit")
        .expect("a commit");
    assert_eq!(commit["welcome_to"], serde_json::json!(["bob"]));
    let epoch = commit["epoch"].as_f64().expect("epoch");
    alice.handle_commit_accepted(epoch, now).expect("accepted");
    bob.handle_welcome("alice", &bytes(&commit, "welcome"), now)
        .expect("welcome");

    // Both see the same room code; bob sees alice's own fingerprint.
    assert_eq!(bob.state(), "member");
    assert_eq!(alice.room_code(), bob.room_code());
    let ev_b = events(&mut bob);
    let joined = ev_b.iter().find(|e| e["type"] == "joined").expect("joined");
    assert_eq!(
        joined["roomCode"].as_str(),
        bob.room_code().as_deref(),
        "{joined}"
    );
    let added = ev_b
        .iter()
        .find(|e| e["type"] == "member_added" && e["participant"] == "alice")
        .expect("alice listed");
    assert_eq!(
        added["fingerprint"].as_str(),
        Some(alice.fingerprint().as_str())
    );
    assert_eq!(added["admission"], "link");
    let ev_a = events(&mut alice);
    assert!(
        ev_a.iter()
            .any(|e| e["type"] == "member_added" && e["participant"] == "bob"),
        "{ev_a:?}"
    );
    assert_eq!(
        alice.safety_number("bob"),
        bob.safety_number("alice"),
        "safety numbers agree"
    );
    assert!(alice.safety_number("nobody").is_none());

    // Epoch keys go to each Worker's ring; only the newest epoch matters.
    let mut rings = [FrameCrypto::new(), FrameCrypto::new()];
    for (s, ring) in [&mut alice, &mut bob].into_iter().zip(&mut rings) {
        let mut last = None;
        while let Some(k) = s.take_epoch_keys() {
            last = Some(k);
        }
        ring.add_epoch(&last.expect("keys of the current epoch"), now)
            .expect("add epoch");
    }
    // Nobody relays key acks here: wait out the switch to the new epoch.
    now += 2_000.0;
    for ring in &mut rings {
        ring.handle_timeout(now).expect("timeout");
    }
    let frame = [0x78, 1, 2, 3, 4, 5];
    let wire = rings[0].encrypt("audio", "mic", &frame).expect("encrypt");
    assert_ne!(&wire[1..], &frame[1..], "the payload is encrypted");
    let clear = rings[1]
        .decrypt("audio", "alice", "mic", &wire)
        .expect("decrypt");
    assert_eq!(clear, frame);

    // Chat is an MLS application message: bob reads it, the wire does not.
    alice.send_chat("bonjour à tous").expect("chat");
    let apps: Vec<Value> = outputs(&mut alice)
        .into_iter()
        .filter(|o| o["type"] == "application")
        .collect();
    assert!(!apps.is_empty(), "an application message");
    let mut seen = Vec::new();
    for app in &apps {
        let data = bytes(app, "data");
        assert!(
            !data.windows(7).any(|w| w == b"bonjour"),
            "chat in the clear on the wire"
        );
        bob.handle_application("alice", &data).expect("application");
        seen.extend(events(&mut bob));
    }
    let chat = seen
        .iter()
        .find(|e| e["type"] == "chat")
        .unwrap_or_else(|| panic!("no chat among {seen:?}"));
    assert_eq!(chat["from"], "alice");
    assert_eq!(chat["text"], "bonjour à tous");
}

#[test]
fn a_joiner_without_the_link_knocks_and_is_let_in() {
    let secret = generate_secret().expect("a secret");
    let id_a = generate_identity().expect("identity");
    let id_k = generate_identity().expect("identity");
    let now = 1_700_000_000_000.0;
    let mut alice = Session::create(&id_a, "alice", "room-name-x", &secret, now).expect("create");
    let mut knocker = Session::join(&id_k, "kim", "room-name-x", None).expect("join");
    let kp = outputs(&mut knocker).remove(0);
    alice
        .handle_join_request("kim", &bytes(&kp, "key_package"), now)
        .expect("knock");
    let knock = events(&mut alice)
        .into_iter()
        .find(|e| e["type"] == "knock")
        .expect("a knock event");
    assert_eq!(
        knock["fingerprint"].as_str(),
        Some(identity_fingerprint(&id_k).expect("fp").as_str())
    );
    alice.accept_knock("kim", now).expect("accept");
    let at = alice.poll_timeout().expect("a commit is due");
    alice.tick(at).expect("tick");
    let commit = outputs(&mut alice)
        .into_iter()
        .find(|o| o["type"] == "commit")
        .expect("a commit");
    alice
        .handle_commit_accepted(commit["epoch"].as_f64().expect("epoch"), at)
        .expect("accepted");
    knocker
        .handle_welcome("alice", &bytes(&commit, "welcome"), at)
        .expect("welcome");
    assert_eq!(knocker.state(), "member");
    assert_eq!(alice.room_code(), knocker.room_code());
}
