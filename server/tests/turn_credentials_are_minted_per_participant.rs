//! With `--turn-secret`, every `joined` carries the TURN servers with a
//! username `<unix expiry>:<participant id>`, 12 hours ahead, and the
//! credential coturn's use-auth-secret checks (spec §2).

#[path = "support/harness.rs"]
mod harness;

use std::time::{SystemTime, UNIX_EPOCH};

use harness::{TestServer, test_config};
use sotto_proto::{ClientMessage, RoomName, ServerMessage};
use sotto_server::turn::{TurnRest, TurnSecret, credential};

#[tokio::test]
async fn each_joined_gets_its_own_expiring_turn_credential() {
    let mut config = test_config();
    let secret = TurnSecret::new("shared-with-coturn".into());
    config.turn_rest = Some(TurnRest {
        urls: vec!["turn:turn.example:3478".into()],
        secret: secret.clone(),
    });
    let server = TestServer::start(config).await;

    let mut usernames = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..2 {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let mut client = server.connect().await;
        client
            .send(&ClientMessage::Join {
                room: RoomName::parse("turn-room").expect("valid"),
            })
            .await;
        let ServerMessage::Joined {
            participant,
            ice_servers,
            ..
        } = client.recv().await
        else {
            panic!("expected joined");
        };
        let turn = ice_servers
            .iter()
            .find(|s| s.urls == ["turn:turn.example:3478"])
            .expect("the TURN server");
        let username = turn.username.clone().expect("a username");
        let (expiry, label) = username.split_once(':').expect("expiry:label");
        assert_eq!(label, participant.as_str());
        let expiry: u64 = expiry.parse().expect("unix seconds");
        assert!(
            (before + 12 * 3600..=before + 12 * 3600 + 60).contains(&expiry),
            "{expiry} is not 12 h after {before}"
        );
        assert_eq!(
            turn.credential.as_deref(),
            Some(credential(&secret, &username).as_str())
        );
        usernames.push(username);
        clients.push(client);
    }
    assert_ne!(usernames[0], usernames[1], "one credential per participant");
    server.stop().await.expect("clean stop");
}
