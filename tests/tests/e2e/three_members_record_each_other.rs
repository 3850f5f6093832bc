//! Three members, each sending the video and audio fixtures and recording
//! the other two: every recorded frame is the frame that was sent, none
//! missing after the first keyframe; and nothing the server relayed (media
//! through the SFU, messages through signalling) holds a plaintext frame,
//! the chat text or a display name.

use std::time::Duration;

use sotto_client::media::source::is_vp8_keyframe;
use sotto_client::room::{Ended, Event, MediaEvent, RoomEvent};
use sotto_proto::TrackSource;
use sotto_tests::PATIENCE;
use sotto_tests::frames::{
    contains, explain_break, plaintext_needles, recorded, sent_on, unbroken_run_in,
};
use sotto_tests::member::{Member, room_code, wait_for_all_media};
use sotto_tests::server::{TestServer, new_room};
use sotto_tests::tap::SignallingTap;

const NAMES: [&str; 3] = ["Ada Lovelace", "Grace Hopper", "Margaret Hamilton"];
const CHAT: &str = "the treasure is under the old oak tree";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_record_each_other_exactly_and_the_server_sees_no_plaintext() {
    let server = TestServer::start().await;
    let tap = SignallingTap::start(server.addr).await;
    let (link, _) = new_room(&tap.origin(), "three-members-record");

    let mut members = Vec::new();
    for name in NAMES {
        let m = Member::join_sending(&link, name).await;
        members.push(m);
    }
    wait_for_all_media(&members).await;
    // Every member sees the same epoch and room code.
    let codes: Vec<_> = members.iter().map(room_code).collect();
    assert!(codes[0].is_some());
    assert!(
        codes.iter().all(|c| *c == codes[0]),
        "room codes: {codes:?}"
    );

    members[0].room().chat(CHAT);
    for m in &members[1..] {
        m.wait_for("the chat line", PATIENCE, |ev| {
            ev.iter()
                .any(|e| matches!(e, Event::Room(RoomEvent::Chat { text, .. }) if text == CHAT))
        })
        .await;
        m.wait_for("the first member's name", PATIENCE, |ev| {
            ev.iter()
                .any(|e| matches!(e, Event::Room(RoomEvent::Name { name, .. }) if name == NAMES[0]))
        })
        .await;
    }
    // A couple of seconds of media among the three.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let ids: Vec<_> = members.iter().map(|m| m.id().expect("connected")).collect();
    for m in &mut members {
        assert_eq!(m.leave().await, Ended::Left);
    }
    let sent: Vec<_> = members.iter().map(Member::sent).collect();
    let wire: Vec<_> = members.iter().map(Member::wire).collect();

    for (r, receiver) in members.iter().enumerate() {
        for (s, sender) in ids.iter().enumerate() {
            if r == s {
                continue;
            }
            for (source, least) in [(TrackSource::Camera, 15), (TrackSource::Mic, 50)] {
                let got = recorded(receiver.record_dir(), sender, source);
                let what = format!("{} recording {}'s {source:?}", NAMES[r], NAMES[s]);
                assert!(
                    got.len() >= least,
                    "{what}: only {} frames ({:?})",
                    got.len(),
                    receiver.recordings()
                );
                let sent = sent_on(&sent[s], source);
                assert!(
                    unbroken_run_in(&sent, &got).is_some(),
                    "{what}: the {} recorded frames are not an unbroken run of the {} sent: {}; \
                     failures: {:?}",
                    got.len(),
                    sent.len(),
                    explain_break(&sent, &got),
                    receiver
                        .events()
                        .iter()
                        .filter(|e| matches!(e, Event::Media(MediaEvent::DecryptFailures { .. })))
                        .collect::<Vec<_>>()
                );
                if source == TrackSource::Camera {
                    assert!(is_vp8_keyframe(&got[0]), "{what}: starts with a keyframe");
                }
            }
        }
    }

    // What the SFU forwarded: every frame as it reached the receivers.
    let needles = plaintext_needles();
    // The search finds plaintext where there is some: in what was sent.
    assert!(
        sent.iter()
            .flatten()
            .all(|f| f.data.len() < 40 || needles.iter().any(|n| contains(&f.data, n))),
        "every sent frame of 40 bytes or more holds a needle"
    );
    let frames: Vec<&[u8]> = wire.iter().flatten().map(|f| f.data.as_slice()).collect();
    assert!(frames.len() > 100, "captured {} frames", frames.len());
    for frame in &frames {
        for needle in &needles {
            assert!(
                !contains(frame, needle),
                "a plaintext frame went through the SFU"
            );
        }
        for text in NAMES.iter().chain([&CHAT]) {
            assert!(!contains(frame, text.as_bytes()));
        }
    }
    // What signalling relayed, base64 fields decoded.
    let corpus = tap.corpus();
    assert!(
        tap.messages() > 10,
        "the tap saw {} messages",
        tap.messages()
    );
    // What the server does know shows up: participant ids, in the JSON and
    // inside the (base64) KeyPackages' credentials.
    for id in &ids {
        let hits = corpus
            .iter()
            .filter(|b| contains(b, id.as_str().as_bytes()))
            .count();
        assert!(hits >= 2, "{id:?} is in {hits} captured messages");
    }
    for bytes in &corpus {
        for text in NAMES.iter().chain([&CHAT]) {
            assert!(
                !contains(bytes, text.as_bytes()),
                "{text:?} reached the server in the clear"
            );
        }
        for needle in &needles {
            assert!(
                !contains(bytes, needle),
                "a media frame went through signalling"
            );
        }
    }
    server.stop().await;
}
