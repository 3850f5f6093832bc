//! The seam to the SFU (`media::MediaPlane` and `MediaEvent`), with a
//! recording media plane: members are added and removed as the room says,
//! members' sdp/ice reach the plane, the plane's messages reach members,
//! and a member told its media failed stays in the room.

#[path = "support/harness.rs"]
mod harness;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{TestServer, test_config, two_members};
use sotto_proto::{
    ClientMessage, ErrorCode, ParticipantId, PcKind, RoomName, SdpKind, ServerMessage,
};
use sotto_server::media::{MediaEvent, MediaPlane, MediaStats};
use sotto_server::server::Media;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Add(ParticipantId),
    Remove(ParticipantId),
    Signal(ParticipantId, &'static str),
}

#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<Call>>>);

impl Recorder {
    fn calls(&self) -> Vec<Call> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
    fn push(&self, call: Call) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(call);
    }
}

impl MediaPlane for Recorder {
    fn add_member(&self, _room: &RoomName, participant: &ParticipantId) {
        self.push(Call::Add(participant.clone()));
    }
    fn remove_member(&self, _room: &RoomName, participant: &ParticipantId) {
        self.push(Call::Remove(participant.clone()));
    }
    fn signal(&self, _room: &RoomName, participant: &ParticipantId, message: ClientMessage) {
        self.push(Call::Signal(participant.clone(), message.message_type()));
    }
}

#[tokio::test]
async fn membership_signals_and_failures_cross_the_seam() {
    let recorder = Recorder::default();
    let (events, events_rx) = Media::channel();
    let media = Media {
        plane: Arc::new(recorder.clone()),
        events: events_rx,
        stats: Arc::new(MediaStats::default()),
    };
    let server = TestServer::start_with_media(test_config(), media).await;
    let room = RoomName::parse("media-room").expect("valid");
    let ((mut a, a_id), (mut b, b_id)) = two_members(&server, room.as_str()).await;
    assert_eq!(
        recorder.calls(),
        vec![Call::Add(a_id.clone()), Call::Add(b_id.clone())]
    );

    // A member's offer and candidates go to the plane, not to the room.
    a.send(&ClientMessage::Sdp {
        pc: PcKind::Pub,
        kind: SdpKind::Offer,
        sdp: "v=0\r\n".into(),
        tracks: vec![],
    })
    .await;
    a.send(&ClientMessage::Ice {
        pc: PcKind::Pub,
        candidate: String::new(),
        sdp_mid: None,
        sdp_mline_index: None,
    })
    .await;
    // The plane answers through its event channel.
    let answer = ServerMessage::Sdp {
        pc: PcKind::Pub,
        kind: SdpKind::Answer,
        sdp: "v=0\r\n".into(),
        tracks: vec![],
    };
    events
        .send(MediaEvent::Signal {
            room: room.clone(),
            participant: a_id.clone(),
            message: answer.clone(),
        })
        .expect("signalling listens");
    assert_eq!(a.recv().await, answer);
    b.expect_nothing(Duration::from_millis(100)).await;
    let calls = recorder.calls();
    assert!(
        calls.contains(&Call::Signal(a_id.clone(), "sdp")),
        "{calls:?}"
    );
    assert!(
        calls.contains(&Call::Signal(a_id.clone(), "ice")),
        "{calls:?}"
    );

    // b's peer connections failed: the media plane tells b, and b stays
    // (its media starts over; signalling neither closes nor announces it).
    let failed = ServerMessage::Error {
        code: ErrorCode::MediaFailed,
        message: "your peer connections failed; open new ones".into(),
        in_reply_to: None,
        current_epoch: None,
    };
    events
        .send(MediaEvent::Signal {
            room: room.clone(),
            participant: b_id.clone(),
            message: failed.clone(),
        })
        .expect("signalling listens");
    assert_eq!(b.recv().await, failed);
    a.expect_nothing(Duration::from_millis(200)).await;
    assert!(!recorder.calls().contains(&Call::Remove(b_id.clone())));

    // Events for rooms or participants that are gone are dropped.
    events
        .send(MediaEvent::Signal {
            room: RoomName::parse("no-such-room").expect("valid"),
            participant: a_id.clone(),
            message: answer,
        })
        .expect("signalling listens");
    a.leave().await;
    a.expect_close().await;
    let deadline = tokio::time::Instant::now() + harness::PATIENCE;
    while !recorder.calls().contains(&Call::Remove(a_id.clone())) {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.stop().await.expect("clean stop");
}
