//! Writes real MLS messages as a seed corpus for the `session_input` fuzz
//! target (fuzz/fuzz_targets/session_input.rs): each file is one selector
//! byte (0 Welcome, 1 commit, 2 application message, 3 join request,
//! 4 knock) followed by the message, taken from a small room run in memory.
//!
//! `cargo run -p sotto-crypto --example mls_seed_corpus -- fuzz/corpus/session_input`

use std::path::PathBuf;
use std::time::Duration;

use sotto_crypto::admission::RoomSecret;
use sotto_crypto::identity::Identity;
use sotto_crypto::session::{Output, Session, SessionConfig};
use sotto_crypto::{Instant, ParticipantId};

const ROOM: &str = "quiet-otter-lamp-42";

fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).expect("valid id")
}

fn key_package(s: &mut Session) -> Vec<u8> {
    match s.poll_output() {
        Some(Output::KeyPackage(kp)) => kp,
        other => panic!("expected a KeyPackage, got {other:?}"),
    }
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: mls_seed_corpus DIR"));
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    let write = |name: &str, selector: u8, bytes: &[u8]| {
        let mut data = vec![selector];
        data.extend_from_slice(bytes);
        std::fs::write(dir.join(name), data).expect("write a seed");
    };
    let secret = RoomSecret::from_bytes([42; 16]);
    let config = SessionConfig::default();
    let now = Instant::ZERO;
    let mut a = Session::create(
        config,
        &Identity::from_seed([1; 32]),
        pid("p0001"),
        ROOM,
        &secret,
        now,
    )
    .expect("create");
    // The fuzz target announces join requests as from p0002.
    let mut b = Session::join(
        config,
        &Identity::from_seed([2; 32]),
        pid("p0002"),
        ROOM,
        Some(&secret),
    )
    .expect("join");
    let kp = key_package(&mut b);
    write("join-request-link", 3, &kp);
    let mut k = Session::join(
        config,
        &Identity::from_seed([3; 32]),
        pid("p0002"),
        ROOM,
        None,
    )
    .expect("join");
    let knock = key_package(&mut k);
    write("join-request-knock", 4, &knock);

    a.handle_join_request(pid("p0002"), &kp, now)
        .expect("tagged");
    let later = now + Duration::from_secs(1);
    a.tick(later).expect("tick");
    let Some(Output::Commit(c)) = a.poll_output() else {
        panic!("a commits the join")
    };
    write("commit-add", 1, &c.commit);
    let welcome = c.welcome.expect("a Welcome");
    write("welcome", 0, &welcome);
    a.handle_commit_accepted(c.epoch, later).expect("accepted");
    b.handle_welcome(&pid("p0001"), &welcome, later)
        .expect("welcome");
    for (i, s) in [&mut a, &mut b].into_iter().enumerate() {
        s.send_chat("a seed chat line").expect("chat");
        s.set_profile("Seed Name").expect("profile");
        let mut n = 0;
        while let Some(o) = s.poll_output() {
            if let Output::Application(data) = o {
                write(&format!("application-{i}-{n}"), 2, &data);
                n += 1;
            }
        }
    }
    // A self-update commit in epoch 1.
    let much_later = later + Duration::from_secs(3600);
    b.tick(much_later).expect("tick");
    if let Some(Output::Commit(c)) = b.poll_output() {
        write("commit-update", 1, &c.commit);
    }
    println!("seeds written to {}", dir.display());
}
