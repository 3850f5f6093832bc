//! Native participants that may use TURN relays only (as behind a
//! firewall that lets nothing else through) call through a real coturn
//! with the credentials the server minted for each of them
//! (`--turn-secret`, coturn's use-auth-secret): media flows both ways,
//! and coturn allocated a relay for each, under its own username.

use sotto_client::room::{Ended, Event, MediaEvent};
use sotto_proto::TrackSource;
use sotto_server::turn::{TurnRest, TurnSecret};
use sotto_tests::PATIENCE;
use sotto_tests::member::{Member, Spec, joined};
use sotto_tests::server::{TestServer, new_room};
use sotto_tests::turn::Coturn;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_limited_to_relays_hear_and_see_each_other_through_coturn() {
    let secret = "sotto-test-turn-secret";
    let coturn = Coturn::start(secret);
    let url = coturn.url();
    let server = TestServer::start_with(|c| {
        c.turn_rest = Some(TurnRest {
            urls: vec![url],
            secret: TurnSecret::new(secret.to_owned()),
        });
    })
    .await
    .expect("starts");
    let (link, _) = new_room(&server.origin(), "through-turn");
    let relayed = |name| Spec {
        relay_only: true,
        ..Spec::sending(name)
    };
    let mut alice = Member::join(&link, relayed("alice"));
    alice.wait_for("joining", PATIENCE, joined).await;
    let mut bob = Member::join(&link, relayed("bob"));
    bob.wait_for("joining", PATIENCE, joined).await;
    for (m, other) in [(&alice, bob.id_now()), (&bob, alice.id_now())] {
        m.wait_for("the other's camera and mic", PATIENCE, |ev| {
            [TrackSource::Camera, TrackSource::Mic].iter().all(|s| {
                ev.iter().any(|e| {
                    matches!(e, Event::Media(MediaEvent::Started { participant, source }) if *participant == other && source == s)
                })
            })
        })
        .await;
    }
    let log = coturn.log();
    for m in [&alice, &bob] {
        let id = m.id_now();
        assert!(
            log.lines().any(
                |l| l.contains(&format!(":{id}>")) && l.contains("ALLOCATE processed, success")
            ),
            "no relay allocated for {id}:\n{log}"
        );
    }
    for m in [&mut alice, &mut bob] {
        assert_eq!(m.leave().await, Ended::Left);
    }
    server.stop().await;
}
