//! The page's drive loop, natively: participants driven only through what
//! JavaScript sees (JSON outputs, signalling text in and out, milliseconds
//! for time) against the real delivery-service rules
//! (`sotto_proto::delivery`), their epoch keys handed to
//! [`FrameCrypto`]s as the Worker gets them. Error paths throw JS errors,
//! which exist only in a browser: tests/browser/ covers those.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use sotto_proto::delivery::{self, Input, RoomSettings};
use sotto_proto::{Limits, ParticipantId, decode_client, encode};
use sotto_web::frames::FrameCrypto;
use sotto_web::identity::{generate_identity, generate_secret, identity_fingerprint};
use sotto_web::participant::Participant;

const ROOM: &str = "quiet-otter-lamp-42";

/// A page: its participant, its Worker's ring, what it showed.
struct Page {
    p: Participant,
    ring: FrameCrypto,
    events: Vec<Value>,
    id: Option<ParticipantId>,
}

/// The server's rules and the pages, moving messages until all is quiet.
struct World {
    server: delivery::Room,
    pages: BTreeMap<&'static str, Page>,
    now: f64,
    next: u32,
}

impl World {
    fn new() -> World {
        World {
            server: delivery::Room::new(Arc::new(RoomSettings {
                limits: Limits {
                    max_message_bytes: 524_288,
                    max_participants: 10,
                    messages_per_second: 20,
                },
                ice_servers: Vec::new(),
            })),
            pages: BTreeMap::new(),
            now: 1_700_000_000_000.0,
            next: 0,
        }
    }

    fn open(&mut self, name: &'static str, identity: &[u8], fragment: Option<String>) {
        let p = Participant::new(identity, ROOM, fragment, Some(name.into()), 7.0, self.now)
            .expect("a participant");
        self.pages.insert(
            name,
            Page {
                p,
                ring: FrameCrypto::new(),
                events: Vec::new(),
                id: None,
            },
        );
        self.settle();
    }

    fn page_of(&self, id: &ParticipantId) -> Option<&'static str> {
        self.pages
            .iter()
            .find(|(_, p)| p.id.as_ref() == Some(id))
            .map(|(n, _)| *n)
    }

    /// Carries out one page's outputs as session.js does; returns whether
    /// there were any.
    fn carry_out(&mut self, name: &'static str) -> bool {
        let now = self.now;
        let mut any = false;
        while let Some(o) = self.page(name).p.next_output() {
            any = true;
            match o["do"].as_str().expect("do") {
                "connect" => self.page(name).p.handle_connected(now).expect("connected"),
                "send" => {
                    let text = o["text"].as_str().expect("text");
                    let msg = decode_client(text).expect("the page sends protocol messages");
                    let input = if let sotto_proto::ClientMessage::Join { .. } = msg {
                        self.next += 1;
                        let id = ParticipantId::new(format!("{name}-{}", self.next)).expect("id");
                        self.page(name).id = Some(id.clone());
                        Input::Join { participant: id }
                    } else {
                        let Some(from) = self.page(name).id.clone() else {
                            continue;
                        };
                        Input::Message { from, message: msg }
                    };
                    let outs = self.server.handle(input);
                    self.deliver(outs);
                }
                "close" => {
                    if let Some(id) = self.page(name).id.take() {
                        let outs = self.server.handle(Input::Departed {
                            participant: id,
                            reason: sotto_proto::LeaveReason::Disconnect,
                        });
                        self.deliver(outs);
                    }
                }
                "keys" => {
                    let page = self.page(name);
                    match o["kind"].as_str().expect("kind") {
                        "epoch" => {
                            let keys = page.p.take_epoch_keys().expect("the keys of the output");
                            page.ring.add_epoch(&keys, now).expect("add epoch");
                        }
                        "ack" => {
                            let epoch = o["epoch"].as_f64().expect("epoch");
                            let leaf =
                                u32::try_from(o["leaf"].as_u64().expect("leaf")).expect("leaf");
                            page.ring.acknowledge(epoch, leaf, now).expect("ack");
                        }
                        "departed" => page
                            .ring
                            .departed(o["participant"].as_str().expect("who"), now)
                            .expect("departed"),
                        "reset" => page.ring = FrameCrypto::new(),
                        other => panic!("keys {other}"),
                    }
                }
                "media" => {}
                "event" => self.page(name).events.push(o),
                other => panic!("output {other}"),
            }
        }
        any
    }

    fn page(&mut self, name: &str) -> &mut Page {
        self.pages.get_mut(name).expect("page")
    }

    fn deliver(&mut self, outs: Vec<delivery::Output>) {
        let now = self.now;
        for o in outs {
            let delivery::Output::Send { to, message } = o else {
                continue;
            };
            if let Some(name) = self.page_of(&to) {
                let page = self.pages.get_mut(name).expect("page");
                page.p
                    .handle_message(&encode(&message), now)
                    .expect("message");
            }
        }
    }

    /// Carries out every output and runs timers for up to 5 s.
    fn settle(&mut self) {
        let end = self.now + 5_000.0;
        loop {
            let names: Vec<&'static str> = self.pages.keys().copied().collect();
            let mut any = false;
            for n in &names {
                any |= self.carry_out(n);
            }
            if any {
                continue;
            }
            let next = self
                .pages
                .values()
                .flat_map(|p| [p.p.poll_timeout(), p.ring.poll_timeout()])
                .flatten()
                .fold(f64::INFINITY, f64::min);
            if next > end {
                return;
            }
            self.now = self.now.max(next);
            let now = self.now;
            for page in self.pages.values_mut() {
                page.p.handle_timeout(now).expect("timeout");
                page.ring.handle_timeout(now).expect("timeout");
            }
        }
    }

    fn events(&self, name: &str, ty: &str) -> Vec<&Value> {
        self.pages[name]
            .events
            .iter()
            .filter(|e| e["type"] == ty)
            .collect()
    }
}

#[test]
fn a_joiner_with_the_link_is_admitted_and_media_flows_between_them() {
    let secret = generate_secret().expect("a secret");
    let (id_a, id_b) = (
        generate_identity().expect("identity"),
        generate_identity().expect("identity"),
    );
    let mut w = World::new();
    w.open("alice", &id_a, Some(secret.clone()));
    assert_eq!(w.pages["alice"].p.status(), "member");
    w.open("bob", &id_b, Some(secret));
    assert_eq!(w.pages["bob"].p.status(), "member");

    // Both see the same room code; bob sees alice's own fingerprint.
    let (a, b) = (&w.pages["alice"].p, &w.pages["bob"].p);
    assert_eq!(a.room_code(), b.room_code());
    assert_eq!(a.fingerprint(), identity_fingerprint(&id_a).expect("fp"));
    let alice_id = a.id().expect("alice's id");
    let added = w
        .events("bob", "member_added")
        .into_iter()
        .find(|e| e["participant"] == alice_id.as_str())
        .cloned()
        .expect("alice listed");
    assert_eq!(
        added["fingerprint"].as_str(),
        Some(a.fingerprint().as_str())
    );
    assert_eq!(added["admission"], "link");
    let bob_id = b.id().expect("bob's id");
    assert_eq!(a.safety_number(&bob_id), b.safety_number(&alice_id));
    assert!(a.safety_number("nobody").is_none());
    let names = w.events("alice", "profile");
    assert!(names.iter().any(|e| e["name"] == "bob"), "{names:?}");
    let members: Value = serde_json::from_str(&a.members()).expect("json");
    assert_eq!(members.as_array().map(Vec::len), Some(2));

    // The Workers' rings switched to the shared epoch (acks were relayed).
    let frame = [0x78, 1, 2, 3, 4, 5];
    let wire = w
        .pages
        .get_mut("alice")
        .expect("alice")
        .ring
        .encrypt("audio", "mic", &frame)
        .expect("encrypt");
    assert_ne!(&wire[1..], &frame[1..], "the payload is encrypted");
    let clear = w
        .pages
        .get_mut("bob")
        .expect("bob")
        .ring
        .decrypt("audio", &alice_id, "mic", &wire)
        .expect("decrypt");
    assert_eq!(clear, frame);

    // Chat is an MLS application message.
    let now = w.now;
    w.pages
        .get_mut("alice")
        .expect("alice")
        .p
        .send_chat("bonjour à tous", now)
        .expect("chat");
    w.settle();
    let chat = w.events("bob", "chat");
    assert_eq!(chat.len(), 1, "{chat:?}");
    assert_eq!(chat[0]["from"], alice_id.as_str());
    assert_eq!(chat[0]["text"], "bonjour à tous");
}

#[test]
fn a_joiner_without_the_link_knocks_and_is_let_in_by_its_fingerprint() {
    let secret = generate_secret().expect("a secret");
    let id_a = generate_identity().expect("identity");
    let id_k = generate_identity().expect("identity");
    let mut w = World::new();
    w.open("alice", &id_a, Some(secret));
    w.open("kim", &id_k, None);
    assert_eq!(w.pages["kim"].p.status(), "knocking");
    let knock = w.events("alice", "knock")[0].clone();
    let shown = knock["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    assert_eq!(shown, identity_fingerprint(&id_k).expect("fp"));
    let kim = knock["participant"].as_str().expect("who").to_owned();
    let now = w.now;
    w.pages
        .get_mut("alice")
        .expect("alice")
        .p
        .accept_knock(&kim, &shown, now)
        .expect("accept");
    w.settle();
    assert_eq!(w.pages["kim"].p.status(), "member");
    assert_eq!(w.pages["alice"].p.room_code(), w.pages["kim"].p.room_code());
}

#[test]
fn a_full_room_ends_the_participation_with_its_code() {
    let secret = generate_secret().expect("a secret");
    let mut w = World::new();
    w.server = delivery::Room::new(Arc::new(RoomSettings {
        limits: Limits {
            max_message_bytes: 524_288,
            max_participants: 1,
            messages_per_second: 20,
        },
        ice_servers: Vec::new(),
    }));
    w.open(
        "alice",
        &generate_identity().expect("id"),
        Some(secret.clone()),
    );
    w.open("bob", &generate_identity().expect("id"), Some(secret));
    let ended = w.events("bob", "ended");
    assert_eq!(ended.len(), 1, "{:?}", w.pages["bob"].events);
    assert_eq!(ended[0]["reason"], "server");
    assert_eq!(ended[0]["code"], "room_full");
    assert_eq!(w.pages["bob"].p.status(), "ended");
    assert!(w.pages["bob"].p.poll_timeout().is_none(), "no reconnecting");
}
