//! The `sotto` command as a script would use it: its output, its exit
//! codes, and three `sotto join` processes in one room on the real server
//! (in this process, on 127.0.0.1), one of them killed mid-call.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sotto_client::media::fixtures;
use sotto_client::media::record::file_stem;
use sotto_client::media::{ivf, ogg};
use sotto_crypto::admission::RoomSecret;
use sotto_proto::{ParticipantId, RoomLink, TrackSource};
use sotto_server::config::Config;
use sotto_server::server::{Media, Server};

const PATIENCE: Duration = Duration::from_secs(30);

fn sotto() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sotto"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = sotto().args(args).output().expect("sotto runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn new_room_prints_a_fresh_link_with_a_secret() {
    let (code, out, _) = run(&["new-room", "localhost:8080"]);
    assert_eq!(code, 0);
    let link = RoomLink::parse(out.trim()).expect("a room link");
    assert_eq!(link.origin, "http://localhost:8080");
    let secret = link.secret.expect("a secret");
    assert!(RoomSecret::from_fragment(&secret).is_ok());
    let (_, again, _) = run(&["new-room", "sotto.example"]);
    assert!(again.starts_with("https://sotto.example/"));
    assert_ne!(out.trim(), again.trim());
}

#[test]
fn identity_is_created_once_and_then_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("id");
    let file = file.to_str().expect("utf-8 path");
    let (code, first, _) = run(&["identity", "--file", file, "--json"]);
    assert_eq!(code, 0);
    let first: Value = serde_json::from_str(&first).expect("json");
    assert_eq!(first["created"], true);
    let (_, second, _) = run(&["identity", "--file", file, "--json"]);
    let second: Value = serde_json::from_str(&second).expect("json");
    assert_eq!(second["created"], false);
    assert_eq!(first["fingerprint"], second["fingerprint"]);
    assert_eq!(first["fingerprint"].as_str().map(str::len), Some(30));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "readable by its owner only");
    }
    std::fs::write(file, b"not an identity").expect("write");
    assert_eq!(run(&["identity", "--file", file]).0, 2);
}

#[test]
fn exit_codes_say_what_went_wrong() {
    let (code, out, _) = run(&["join", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Exit codes:") && out.contains("4  our knock was refused"));
    assert_eq!(run(&["join", "not-a-link"]).0, 2);
    assert_eq!(run(&["join", "http://127.0.0.1:9/room-1#short"]).0, 2);
    let (code, _, err) = run(&[
        "join",
        "http://127.0.0.1:9/room-1",
        "--send-video",
        "/nonexistent/video.ivf",
    ]);
    assert_eq!(code, 2, "{err}");
    // Nothing listens on the discard port of loopback.
    let (code, out, _) = run(&["join", "http://127.0.0.1:9/room-1", "--json"]);
    assert_eq!(code, 3);
    let last: Value = serde_json::from_str(out.lines().last().expect("a line")).expect("json");
    assert_eq!(last["event"], "ended");
    assert_eq!(last["exit_code"], 3);
}

#[test]
fn letting_every_knocker_in_is_named_for_bots_and_warns() {
    // The old flag, which the README once showed for a person, is gone.
    let (code, _, err) = run(&["join", "http://127.0.0.1:9/room-1", "--accept-knocks"]);
    assert_eq!(code, 2, "{err}");
    let (code, out, _) = run(&["join", "--help"]);
    assert_eq!(code, 0);
    let help = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("--bot-accepts-every-knock"), "{out}");
    assert!(help.contains("For bots only"), "{out}");
    assert!(
        help.contains("the server itself could join the call"),
        "{out}"
    );
}

/// A `sotto join --json` process and the events it printed.
struct Proc {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Proc {
    fn join(link: &str, name: &str, record: &Path) -> Proc {
        let record = record.to_str().expect("utf-8 path");
        Proc::start(&[link, "--name", name, "--record", record])
    }

    /// `sotto join --json --no-reconnect ARGS...`.
    fn start(args: &[&str]) -> Proc {
        let mut child = sotto()
            .args(["join", "--json", "--no-reconnect"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sotto starts");
        let stdout = child.stdout.take().expect("piped");
        let lines: Arc<Mutex<Vec<Value>>> = Arc::default();
        let store = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str(&line) {
                    store.lock().expect("not poisoned").push(v);
                }
            }
        });
        Proc {
            child,
            lines,
            reader: Some(reader),
        }
    }

    fn events(&self) -> Vec<Value> {
        self.lines.lock().expect("not poisoned").clone()
    }

    async fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) {
        let start = Instant::now();
        while !done(&self.events()) {
            assert!(
                start.elapsed() < PATIENCE,
                "timed out waiting for {what}: {:#?}",
                self.events()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn id(&self) -> String {
        self.events()
            .iter()
            .find(|e| e["event"] == "connected")
            .and_then(|e| e["participant"].as_str().map(str::to_owned))
            .expect("connected")
    }

    /// Types `leave` and waits for the exit code.
    async fn leave(mut self) -> (i32, Vec<Value>) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = writeln!(stdin, "leave");
        }
        let start = Instant::now();
        let code = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status.code().unwrap_or(-1);
            }
            assert!(start.elapsed() < PATIENCE, "sotto did not leave");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (code, self.events())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGKILL: the process gets no chance to say goodbye.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|e| e["event"] == kind).count()
}

/// The real server with its SFU on 127.0.0.1, ephemeral ports; send on
/// the channel to stop it.
async fn start_server() -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let mut config = Config {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        ..Config::default()
    };
    config.media.udp_port = 0;
    let server = Server::bind(&config, Media::sfu(&config).expect("sfu"))
        .await
        .expect("bind");
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    (addr, stop, serving)
}

impl Proc {
    /// Types one line on its stdin.
    fn say(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("piped");
        writeln!(stdin, "{line}").expect("write");
        stdin.flush().expect("flush");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_meet_by_the_room_name_and_a_refused_knock_exits_4() {
    let (addr, stop, serving) = start_server().await;
    let bare = format!("http://{addr}/Alice-and-Bob-03-May-2020");
    let dirs: Vec<_> = (0..2)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let bob_identity = dirs[1].path().join("identity");
    let (code, out, _) = run(&[
        "identity",
        "--file",
        bob_identity.to_str().expect("utf-8"),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let bob_fingerprint = serde_json::from_str::<Value>(&out).expect("json")["fingerprint"]
        .as_str()
        .expect("a fingerprint")
        .replace(' ', "");

    // Alice comes first, by the name alone: she opens the room and is
    // given its full link.
    let mut alice = Proc::start(&[
        &bare,
        "--name",
        "Alice",
        "--record",
        dirs[0].path().to_str().expect("utf-8"),
    ]);
    alice
        .wait_for("alice opening the room", |ev| {
            count(ev, "opened") == 1 && count(ev, "joined") == 1
        })
        .await;
    let link = alice
        .events()
        .iter()
        .find(|e| e["event"] == "opened")
        .and_then(|e| e["link"].as_str().map(str::to_owned))
        .expect("the full link");
    let (origin_and_room, fragment) = link.split_once('#').expect("a #secret");
    assert_eq!(
        origin_and_room,
        format!("http://{addr}/alice-and-bob-03-may-2020")
    );
    assert!(RoomSecret::from_fragment(fragment).is_ok(), "{link}");

    // Bob comes by the name too, in lower case: he knocks; alice sees his
    // fingerprint, compares it, and says yes.
    let lower = format!("http://{addr}/alice-and-bob-03-may-2020");
    let bob = Proc::start(&[
        &lower,
        "--name",
        "Bob",
        "--identity",
        bob_identity.to_str().expect("utf-8"),
        "--record",
        dirs[1].path().to_str().expect("utf-8"),
    ]);
    bob.wait_for("bob knocking", |ev| {
        ev.iter()
            .any(|e| e["event"] == "waiting" && e["knocking"] == true)
    })
    .await;
    assert_eq!(count(&bob.events(), "opened"), 0, "the room was not empty");
    alice
        .wait_for("bob's knock", |ev| count(ev, "knock") == 1)
        .await;
    let knock = alice
        .events()
        .into_iter()
        .find(|e| e["event"] == "knock")
        .expect("knock");
    assert_eq!(knock["participant"], bob.id().as_str());
    assert_eq!(
        knock["fingerprint"].as_str(),
        Some(bob_fingerprint.as_str())
    );
    alice.say("y");
    for p in [&alice, &bob] {
        p.wait_for("media from the other", |ev| count(ev, "media") >= 2)
            .await;
    }

    // A third comes by the name and is refused: exit code 4.
    let mut third = Proc::start(&[&bare, "--no-video", "--no-audio"]);
    alice
        .wait_for("a second knock", |ev| count(ev, "knock") == 2)
        .await;
    alice.say("n");
    let start = Instant::now();
    let code = loop {
        if let Some(status) = third.child.try_wait().expect("wait") {
            break status.code().unwrap_or(-1);
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the refused knocker did not exit: {:#?}\nalice: {:#?}",
            third.events(),
            alice.events()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(code, 4, "{:#?}", third.events());

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let bob_id = ParticipantId::new(bob.id()).expect("valid id");
    for p in [alice, bob] {
        let (code, events) = p.leave().await;
        assert_eq!(code, 0, "{events:#?}");
    }
    // Each recorded the other's video, decrypted: fixture frames.
    let (_, video) = ivf::read(fixtures::PATTERN_IVF).expect("fixture");
    let path = dirs[0]
        .path()
        .join(format!("{}.ivf", file_stem(&bob_id, TrackSource::Camera)));
    let got = ivf::read(&std::fs::read(path).expect("bob's video recorded"))
        .expect("IVF")
        .1;
    assert!(got.len() >= 10, "{} video frames", got.len());
    assert!(got.iter().all(|f| video.iter().any(|v| v.data == f.data)));
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_a_call_and_survive_one_being_killed() {
    let (addr, stop, serving) = start_server().await;
    let secret = RoomSecret::generate().expect("randomness");
    let link = format!("http://{addr}/cli-room-1#{}", secret.to_fragment().as_str());
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();

    let alice = Proc::join(&link, "alice", dirs[0].path());
    alice
        .wait_for("alice joining", |ev| count(ev, "joined") > 0)
        .await;
    let bob = Proc::join(&link, "bob", dirs[1].path());
    let carol = Proc::join(&link, "carol", dirs[2].path());
    for p in [&alice, &bob, &carol] {
        p.wait_for("media from both others", |ev| count(ev, "media") >= 4)
            .await;
    }
    let (alice_id, bob_id, carol_id) = (alice.id(), bob.id(), carol.id());
    // Names and fingerprints reach the others.
    alice
        .wait_for("bob's name", |ev| {
            ev.iter()
                .any(|e| e["event"] == "name" && e["from"] == bob_id.as_str() && e["name"] == "bob")
        })
        .await;
    assert!(alice.events().iter().any(|e| e["event"] == "member"
        && e["participant"] == bob_id.as_str()
        && e["fingerprint"].as_str().is_some_and(|f| f.len() == 30)));

    drop(carol);
    for p in [&alice, &bob] {
        p.wait_for("carol leaving, then a new epoch", |ev| {
            let left = ev
                .iter()
                .position(|e| e["event"] == "left" && e["participant"] == carol_id.as_str());
            left.is_some_and(|i| ev[i..].iter().any(|e| e["event"] == "epoch"))
        })
        .await;
    }
    // Media between the two goes on in the new epoch.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (p, other) in [(alice, &bob_id), (bob, &alice_id)] {
        let (code, events) = p.leave().await;
        assert_eq!(code, 0, "{events:#?}");
        let last = events.last().expect("events");
        assert_eq!(last["event"], "ended");
        assert_eq!(last["exit_code"], 0);
        let summary = events
            .iter()
            .find(|e| e["event"] == "summary")
            .expect("a summary");
        let tracks: Vec<_> = summary["tracks"]
            .as_array()
            .expect("tracks")
            .iter()
            .filter(|t| t["participant"] == other.as_str())
            .collect();
        assert_eq!(tracks.len(), 2, "{summary}");
        // A frame sealed with an epoch the receiver does not hold yet can
        // slip through when a sender switches on the 1.5 s timeout instead
        // of everyone's ack (a loaded machine, three debug processes). Seen
        // once in ~15 runs, one audio frame, before acks were sent only
        // after the keys were in the ring; more would be a bug.
        assert!(
            tracks
                .iter()
                .all(|t| t["decrypt_failures"].as_u64().is_some_and(|n| n <= 2)),
            "{summary}: {:#?}",
            events
                .iter()
                .filter(|e| e["event"] == "decrypt_failures"
                    || e["event"] == "epoch"
                    || e["event"] == "joined"
                    || e["event"] == "media")
                .collect::<Vec<_>>()
        );
    }

    // Alice's recordings of bob: every frame one of the fixture's frames.
    let (_, video) = ivf::read(fixtures::PATTERN_IVF).expect("fixture");
    let (_, audio) = ogg::read_opus(fixtures::TONE_OGG).expect("fixture");
    let bob = ParticipantId::new(bob_id).expect("valid id");
    let path = |s, ext| dirs[0].path().join(format!("{}.{ext}", file_stem(&bob, s)));
    let bytes = std::fs::read(path(TrackSource::Camera, "ivf")).expect("video recorded");
    let got = ivf::read(&bytes).expect("valid IVF").1;
    assert!(got.len() >= 20, "{} video frames", got.len());
    assert!(got.iter().all(|f| video.iter().any(|v| v.data == f.data)));
    let bytes = std::fs::read(path(TrackSource::Mic, "ogg")).expect("audio recorded");
    let got = ogg::read_opus(&bytes).expect("valid Ogg").1;
    assert!(got.len() >= 50, "{} audio packets", got.len());
    assert!(got.iter().all(|f| audio.contains(f)));

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
}
