//! MLS input to a session, as the server relays it: byte 0 picks the
//! input (Welcome to a waiting joiner; commit, application message or join
//! request to a member at epoch 0; a join request accepted as a knock), the
//! rest is the message. Nothing panics; a refused input leaves the session
//! where it was; an accepted join request leads to a commit or a typed
//! error, never a panic.
//!
//! Seeds: `cargo run -p sotto-crypto --example mls_seed_corpus -- DIR`
//! writes real messages in this format.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sotto_crypto::admission::RoomSecret;
use sotto_crypto::identity::Identity;
use sotto_crypto::session::{EndReason, Session, SessionConfig, SessionError, State};
use sotto_crypto::{Instant, ParticipantId};

const ROOM: &str = "quiet-otter-lamp-42";

fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).expect("valid id")
}

fn member(secret: &RoomSecret) -> Session {
    let mut s = Session::create(
        SessionConfig::default(),
        &Identity::from_seed([1; 32]),
        pid("p0001"),
        ROOM,
        secret,
        Instant::ZERO,
    )
    .expect("create");
    while s.poll_event().is_some() {}
    s
}

fn unmoved(s: &Session) {
    assert_eq!(s.state(), State::Member);
    assert_eq!(s.epoch(), Some(0));
    assert_eq!(s.members().len(), 1);
}

fuzz_target!(|data: &[u8]| {
    let [which, input @ ..] = data else {
        return;
    };
    let secret = RoomSecret::from_bytes([42; 16]);
    let now = Instant::ZERO;
    let other = pid("p0002");
    match which % 5 {
        0 => {
            let mut w = Session::join(
                SessionConfig::default(),
                &Identity::from_seed([2; 32]),
                other.clone(),
                ROOM,
                Some(&secret),
            )
            .expect("join");
            match w.handle_welcome(&pid("p0001"), input, now) {
                Err(SessionError::GhostRoom) => {
                    assert_eq!(w.state(), State::Ended(EndReason::GhostRoom))
                }
                Err(_) => assert_eq!(w.state(), State::Waiting),
                Ok(()) => assert_eq!(w.state(), State::Member),
            }
        }
        1 => {
            let mut m = member(&secret);
            if m.handle_commit(&other, 0, input, now).is_err() {
                unmoved(&m);
            }
        }
        2 => {
            let mut m = member(&secret);
            let _ = m.handle_application(&other, input);
            unmoved(&m);
            assert!(m.poll_output().is_none(), "nothing sent in reply");
        }
        n => {
            let mut m = member(&secret);
            let accepted = m.handle_join_request(other.clone(), input, now);
            unmoved(&m);
            if accepted.is_ok() {
                if n == 4 && !m.knocks().is_empty() {
                    m.accept_knock(&other, now).expect("the knock is waiting");
                }
                // Whatever passed the checks is committed, or refused with
                // a typed error.
                let _ = m.tick(now + Duration::from_secs(1));
                assert_eq!(m.epoch(), Some(0), "not merged before the verdict");
            }
        }
    }
});
