//! Churn and soak: participants join and leave rooms at random for a
//! while (a fifth of the leaves are kills: no goodbye), then stay put.
//! Checked: every join completes, every room ends in one epoch that all
//! its members agree on (no stuck epoch) and in which each member's group
//! is exactly the participants in the room (no ghost), no member fails to
//! decrypt a track for longer than the epoch switch delay plus a margin
//! (from the first frame that failed to the last, counted from when it
//! became a member: frames reach a newcomer before its Welcome does), the server
//! ends with no room and no participant, and (with the server in its own
//! process) its memory stays flat.
//!
//! The same test is the short CI run and the long soak; the environment
//! sets the scale (defaults in brackets):
//! `SOTTO_CHURN_PARTICIPANTS` [12], `SOTTO_CHURN_ROOMS` [3],
//! `SOTTO_CHURN_SECS` [30], `SOTTO_CHURN_SEED` [from the clock],
//! `SOTTO_CHURN_VIDEO_EVERY` [4: every 4th participant sends video too,
//! all send audio], `SOTTO_CHURN_SERVER_BIN` [unset: the server runs in
//! this process; set to a `sotto-server` binary to run it as a child and
//! measure its RSS]. See README, "Tests".
//!
//! (Over 600 lines on purpose: one scenario, read top to bottom: the churn
//! loop, the bookkeeping of who is where, and the checks and the report
//! over that bookkeeping; split, its invariants would live in three files.)

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sotto_client::media::fixtures;
use sotto_client::media::source::FrameSource;
use sotto_client::room::{Event, JoinOptions, KnockPolicy, MediaEvent, Room, RoomEvent};
use sotto_crypto::identity::Identity;
use sotto_crypto::keys::KeyRingConfig;
use sotto_proto::{ParticipantId, RoomLink, TrackSource};
use sotto_tests::dice::Dice;
use sotto_tests::server::{TestServer, metric, metrics_at, new_room};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// A join that has not led to membership by then is stuck.
const JOIN_PATIENCE: Duration = Duration::from_secs(30);
/// Scheduling slack over the epoch switch delay for "cannot decrypt":
/// frames are 20 ms (audio) or 67 ms (video) apart, and 50 participants
/// share two busy cores with the server.
const DECRYPT_MARGIN: Duration = Duration::from_millis(500);
/// Allowed growth of the server's RSS from a quarter of the run to its
/// end (only checked with the server in its own process).
const RSS_GROWTH_BOUND_KIB: u64 = 32 * 1024;

struct Settings {
    participants: usize,
    rooms: usize,
    duration: Duration,
    seed: u64,
    video_every: usize,
    server_bin: Option<PathBuf>,
}

fn settings() -> Settings {
    let num = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .map(|v| {
                v.parse::<u64>()
                    .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
            })
            .unwrap_or(default)
    };
    Settings {
        participants: num("SOTTO_CHURN_PARTICIPANTS", 12) as usize,
        rooms: num("SOTTO_CHURN_ROOMS", 3).max(1) as usize,
        duration: Duration::from_secs(num("SOTTO_CHURN_SECS", 30)),
        seed: num("SOTTO_CHURN_SEED", Dice::seed_from_clock()),
        video_every: num("SOTTO_CHURN_VIDEO_EVERY", 4).max(1) as usize,
        server_bin: std::env::var_os("SOTTO_CHURN_SERVER_BIN").map(PathBuf::from),
    }
}

#[derive(Debug, Default)]
struct Figures {
    joins: u64,
    leaves: u64,
    kills: u64,
    stuck_joins: Vec<String>,
    /// Left (at the end of its stay) before it was let in.
    left_unjoined: u64,
    join_latency_max: Duration,
    join_latency_sum: Duration,
    joined: u64,
    epoch_changes: u64,
    /// Highest epoch seen per room.
    max_epoch: HashMap<usize, u64>,
    /// Tracks that decrypted again after failing, and the longest such
    /// stretch: from the first frame that failed to the last.
    recoveries: u64,
    failed_frames: u64,
    longest_failing: Duration,
    /// From the first frame that failed to the next that opened: also
    /// counts time in which no frame arrived at all (a picture frozen for
    /// another reason), so it is reported, not bounded.
    longest_until_open: Duration,
    until_open_over_bound: u64,
    /// The longest such stretch counted from when the participant became
    /// a member: a newcomer is sent frames before its Welcome gives it
    /// any key, and that wait is the join's, not a member's.
    longest_failing_as_member: Duration,
    /// Stretches still failing when the track or the participation ended,
    /// all of it and the part as a member.
    unrecovered: Vec<Duration>,
    unrecovered_as_member: Vec<Duration>,
    warnings: u64,
    some_warnings: Vec<String>,
    reconnects: u64,
    /// Failure reports by error, and the errors of the stretches longer
    /// than the bound.
    failure_kinds: HashMap<String, u64>,
    long_stretch_kinds: HashMap<String, u64>,
    /// When each participant reached each epoch.
    reached: HashMap<ParticipantId, Vec<(u64, Instant)>>,
    /// A few tracks that took longer than the bound to open again after
    /// a failure, in detail.
    long_details: Vec<String>,
    /// Stalls of this test's own runtime (all participants share it):
    /// when a task that asked to sleep [`PROBE_SLEEP`] woke more than
    /// [`STALL`] late, and by how much. Participants' frames wait as long.
    stalls: Vec<(Instant, Duration)>,
    /// Recovered runs of failing frames (as a member) by length, in half
    /// seconds: under 0.5 s, under 1 s, under 1.5 s, under 2 s, longer.
    by_length: [u64; 5],
}

/// How long the stall probe sleeps at a time.
const PROBE_SLEEP: Duration = Duration::from_millis(10);
/// A wake-up later than this is a stall worth recording.
const STALL: Duration = Duration::from_millis(50);

/// What a participant is doing now, for the final check.
#[derive(Debug, Clone, Default)]
struct Now {
    room: Option<usize>,
    joined: bool,
    state: Option<(u64, String)>,
    /// Its participant id, and the other members of its group as it sees
    /// them (a leaf nobody removed would show here as a ghost).
    me: Option<ParticipantId>,
    others: BTreeSet<ParticipantId>,
}

/// Per member of one room: whom its group has that is not in the room
/// (ghosts), and who is in the room that its group lacks.
fn group_differences(ms: &[&Now]) -> Vec<(Vec<ParticipantId>, Vec<ParticipantId>)> {
    let there: BTreeSet<&ParticipantId> = ms.iter().filter_map(|m| m.me.as_ref()).collect();
    ms.iter()
        .map(|m| {
            let ghosts = m
                .others
                .iter()
                .filter(|p| !there.contains(p))
                .cloned()
                .collect();
            let lacks = there
                .iter()
                .filter(|p| !m.others.contains(**p) && m.me.as_ref() != Some(**p))
                .map(|p| (*p).clone())
                .collect();
            (ghosts, lacks)
        })
        .collect()
}

/// A track that fails to decrypt, as its failure reports show it.
struct Failing {
    first: Instant,
    last: Instant,
    kind: String,
}

impl Failing {
    fn observed(&self) -> Duration {
        self.last.saturating_duration_since(self.first)
    }
}

/// One participation's view of its events.
struct Tracker {
    room: usize,
    started: Instant,
    joined: bool,
    /// When it first became a member (for telling a newcomer's wait for
    /// the senders to switch to its first epoch from a member's failure,
    /// and for not counting the wait for its Welcome).
    joined_at: Option<Instant>,
    /// Each failing track: its first and latest failure reports, and the
    /// last error. Reports come at most once a second per track while it
    /// fails, so a stretch that never recovered lasted from its first to
    /// its latest report, and less than a second more: not until the
    /// track ended, which can be much later when its frames just stopped.
    failing: HashMap<(ParticipantId, TrackSource), Failing>,
    /// Its participant id and the epoch it joined in.
    me: Option<(ParticipantId, u64)>,
}

/// The variant of an error, without its fields.
fn kind(error: &impl std::fmt::Debug) -> String {
    let text = format!("{error:?}");
    // `Media(Sframe(UnknownKeyId(KID 0x22)))` -> `Media(Sframe(UnknownKeyId`
    let cut = text.find([' ', '{']).unwrap_or(text.len());
    text[..cut]
        .trim_end_matches("(KID")
        .trim_end_matches('(')
        .to_owned()
}

fn bound() -> Duration {
    KeyRingConfig::default().switch_timeout + DECRYPT_MARGIN
}

impl Tracker {
    fn on(&mut self, event: Event, now: &Mutex<Now>, figures: &Mutex<Figures>) {
        let mut f = figures.lock().expect("not poisoned");
        match event {
            Event::Room(RoomEvent::Joined {
                epoch,
                room_code,
                participant,
            }) => {
                f.reached
                    .entry(participant.clone())
                    .or_default()
                    .push((epoch, Instant::now()));
                self.me.get_or_insert((participant, epoch));
                self.joined = true;
                // The first time: a stretch through a rejoin counts whole.
                self.joined_at.get_or_insert_with(Instant::now);
                let latency = self.started.elapsed();
                f.joined += 1;
                f.join_latency_sum += latency;
                f.join_latency_max = f.join_latency_max.max(latency);
                let e = f.max_epoch.entry(self.room).or_default();
                *e = (*e).max(epoch);
                let mut n = now.lock().expect("not poisoned");
                n.joined = true;
                n.state = Some((epoch, room_code.to_string()));
                n.me = self.me.as_ref().map(|(p, _)| p.clone());
                // A new group (or the first): its members follow.
                n.others.clear();
            }
            Event::Room(RoomEvent::EpochChanged { epoch, room_code }) => {
                if let Some((me, _)) = &self.me {
                    f.reached
                        .entry(me.clone())
                        .or_default()
                        .push((epoch, Instant::now()));
                }
                f.epoch_changes += 1;
                let e = f.max_epoch.entry(self.room).or_default();
                *e = (*e).max(epoch);
                now.lock().expect("not poisoned").state = Some((epoch, room_code.to_string()));
            }
            Event::Media(MediaEvent::DecryptFailures {
                participant,
                source,
                error,
                ..
            }) => {
                let k = kind(&error);
                *f.failure_kinds.entry(k.clone()).or_default() += 1;
                let t = Instant::now();
                let e = self
                    .failing
                    .entry((participant, source))
                    .or_insert_with(|| Failing {
                        first: t,
                        last: t,
                        kind: String::new(),
                    });
                e.last = t;
                e.kind = k;
            }
            Event::Media(MediaEvent::Recovered {
                participant,
                source,
                after,
                failing_for,
                failures,
            }) => {
                let k = self.failing.remove(&(participant.clone(), source));
                let end = Instant::now();
                let start = end.checked_sub(after).unwrap_or(end);
                let as_member = self.as_member(start, start + failing_for);
                if after > bound() && f.long_details.len() < 8 {
                    let secs = |t: Instant| {
                        let j = self.joined_at.unwrap_or(t);
                        if t >= j {
                            t.duration_since(j).as_secs_f64()
                        } else {
                            -j.duration_since(t).as_secs_f64()
                        }
                    };
                    let reached = |who: &ParticipantId| {
                        f.reached.get(who).map(|v| {
                            v.iter()
                                .map(|(ep, t)| format!("{ep}@{:+.2}", secs(*t)))
                                .collect::<Vec<_>>()
                        })
                    };
                    let (me_epoch, sender_reached, me_reached) = match &self.me {
                        Some((me, e)) => (*e, reached(&participant), reached(me)),
                        None => (0, None, None),
                    };
                    // How much of the wait after the last failure the
                    // runtime itself was stalled.
                    let (quiet_from, quiet_to) = (start + failing_for, end);
                    let stalled: Duration = f
                        .stalls
                        .iter()
                        .filter(|(woke, late)| *woke > quiet_from && *woke - *late < quiet_to)
                        .map(|(woke, late)| {
                            let began = (*woke - *late).max(quiet_from);
                            (*woke).min(quiet_to).saturating_duration_since(began)
                        })
                        .sum();
                    let d = format!(
                        "room {} joined epoch {me_epoch} at +0; {source:?} of {participant} failed \
                         {:+.2}..{:+.2} ({failures} frames), next frame opened {:+.2} \
                         (the runtime stalled {} ms of that wait); \
                         it reached epochs {sender_reached:?}, we reached {me_reached:?}",
                        self.room,
                        secs(start),
                        secs(start + failing_for),
                        secs(end),
                        stalled.as_millis(),
                    );
                    f.long_details.push(d);
                }
                if failing_for > bound() {
                    let who = self.who(start);
                    let k = k.map_or_else(|| "unreported".to_owned(), |e| e.kind);
                    *f.long_stretch_kinds
                        .entry(format!("{k}, {who}"))
                        .or_default() += 1;
                }
                f.recoveries += 1;
                f.failed_frames += failures;
                f.longest_failing = f.longest_failing.max(failing_for);
                f.longest_failing_as_member = f.longest_failing_as_member.max(as_member);
                f.by_length[((as_member.as_millis() / 500) as usize).min(4)] += 1;
                f.longest_until_open = f.longest_until_open.max(after);
                if after > bound() {
                    f.until_open_over_bound += 1;
                }
            }
            Event::Media(MediaEvent::Ended {
                participant,
                source,
                ..
            }) => {
                if let Some(e) = self.failing.remove(&(participant, source)) {
                    self.unrecovered(&e, &mut f);
                }
            }
            Event::Room(RoomEvent::MemberAdded { participant, .. }) => {
                now.lock().expect("not poisoned").others.insert(participant);
            }
            Event::Room(RoomEvent::MemberRemoved { participant, .. }) => {
                now.lock()
                    .expect("not poisoned")
                    .others
                    .remove(&participant);
            }
            Event::Room(RoomEvent::Rejoining { .. }) => {
                f.reconnects += 1;
                let mut n = now.lock().expect("not poisoned");
                n.joined = false;
                n.state = None;
            }
            Event::Room(RoomEvent::Warning { message }) => {
                f.warnings += 1;
                if f.some_warnings.len() < 8 && !f.some_warnings.contains(&message) {
                    f.some_warnings.push(message);
                }
            }
            _ => {}
        }
    }

    /// Whether a stretch that began at `start` began before the
    /// participant was a member, is a newcomer's first wait (it began
    /// within the bound after joining) or is a member's failure.
    fn who(&self, start: Instant) -> &'static str {
        match self.joined_at {
            Some(j) if start < j => "before joining",
            Some(j) if start.duration_since(j) <= bound() => "since joining",
            Some(_) => "established",
            None => "never joined",
        }
    }

    /// The part of a stretch from `start` to `end` during which the
    /// participant was a member.
    fn as_member(&self, start: Instant, end: Instant) -> Duration {
        self.joined_at.map_or(Duration::ZERO, |j| {
            end.saturating_duration_since(start.max(j))
        })
    }

    /// A stretch still failing when its track or the participation ended.
    fn unrecovered(&self, e: &Failing, f: &mut Figures) {
        f.unrecovered.push(e.observed());
        f.unrecovered_as_member
            .push(self.as_member(e.first, e.last));
        if e.observed() > bound() {
            let who = self.who(e.first);
            *f.long_stretch_kinds
                .entry(format!("{}, {who} (unrecovered)", e.kind))
                .or_default() += 1;
        }
    }

    fn finish(self, figures: &Mutex<Figures>) {
        let mut f = figures.lock().expect("not poisoned");
        for e in self.failing.values() {
            self.unrecovered(e, &mut f);
        }
    }
}

struct Slot {
    index: usize,
    links: Arc<Vec<RoomLink>>,
    deadline: Instant,
    video: bool,
    dice: Dice,
    figures: Arc<Mutex<Figures>>,
    now: Arc<Mutex<Now>>,
    stop: watch::Receiver<bool>,
}

impl Slot {
    /// Joins and leaves until the deadline, then stays where it is until
    /// told to stop, then leaves.
    async fn run(mut self) {
        loop {
            let r = self.dice.below(self.links.len());
            let mut options = JoinOptions::new(
                self.links[r].clone(),
                Identity::generate().expect("randomness"),
            );
            options.name = Some(format!("p{}", self.index));
            options.knocks = KnockPolicy::AcceptAllBotOnly;
            // As real clients do: a member that falls out of step with
            // its group (or loses its connection) joins again.
            options.reconnect = true;
            options.audio =
                Some(FrameSource::opus_ogg(fixtures::TONE_OGG).expect("the audio fixture"));
            if self.video {
                options.video =
                    Some(FrameSource::vp8_ivf(fixtures::PATTERN_IVF).expect("the video fixture"));
            }
            let (room, mut events) = Room::join(options).expect("a valid link");
            self.figures.lock().expect("not poisoned").joins += 1;
            *self.now.lock().expect("not poisoned") = Now {
                room: Some(r),
                ..Now::default()
            };
            let mut tracker = Tracker {
                room: r,
                started: Instant::now(),
                joined: false,
                joined_at: None,
                failing: HashMap::new(),
                me: None,
            };
            let stay = self
                .dice
                .between(Duration::from_secs(3), Duration::from_secs(12));
            let wake = (tracker.started + stay).min(self.deadline);
            let mut ended = false;
            loop {
                tokio::select! {
                    ev = events.recv() => match ev {
                        Some(e) => tracker.on(e, &self.now, &self.figures),
                        None => { ended = true; break; }
                    },
                    _ = tokio::time::sleep_until(wake) => break,
                }
            }
            let past_deadline = Instant::now() >= self.deadline;
            if past_deadline && !ended {
                // Stay for the final check, still following events.
                let mut stop = self.stop.clone();
                let joined_by = tracker.started + JOIN_PATIENCE;
                loop {
                    tokio::select! {
                        ev = events.recv() => match ev {
                            Some(e) => tracker.on(e, &self.now, &self.figures),
                            None => break,
                        },
                        _ = stop.wait_for(|s| *s) => break,
                        _ = tokio::time::sleep_until(joined_by), if !tracker.joined => {
                            self.stuck(&tracker);
                            break;
                        }
                    }
                }
            } else if !tracker.joined && tracker.started.elapsed() >= JOIN_PATIENCE {
                self.stuck(&tracker);
            } else if !tracker.joined {
                self.figures.lock().expect("not poisoned").left_unjoined += 1;
            }
            if self.dice.unit() < 0.2 {
                room.abort();
                self.figures.lock().expect("not poisoned").kills += 1;
            } else {
                let left = tokio::time::timeout(Duration::from_secs(10), async {
                    // Keep the events flowing while it leaves.
                    let leaving = room.leave();
                    tokio::pin!(leaving);
                    loop {
                        tokio::select! {
                            _ = &mut leaving => break,
                            Some(e) = events.recv() => tracker.on(e, &self.now, &self.figures),
                        }
                    }
                })
                .await;
                assert!(left.is_ok(), "p{} did not leave within 10 s", self.index);
                self.figures.lock().expect("not poisoned").leaves += 1;
            }
            while let Ok(e) = events.try_recv() {
                tracker.on(e, &self.now, &self.figures);
            }
            tracker.finish(&self.figures);
            *self.now.lock().expect("not poisoned") = Now::default();
            if past_deadline {
                return;
            }
            let pause = self
                .dice
                .between(Duration::from_millis(500), Duration::from_secs(3));
            tokio::time::sleep(pause).await;
            if Instant::now() >= self.deadline {
                return;
            }
        }
    }

    fn stuck(&self, tracker: &Tracker) {
        self.figures
            .lock()
            .expect("not poisoned")
            .stuck_joins
            .push(format!(
                "p{} in room {} not a member after {:?}",
                self.index,
                tracker.room,
                tracker.started.elapsed()
            ));
    }
}

/// The server under test: in this process, or a child whose RSS we read.
enum Server {
    Here(TestServer),
    Child(std::process::Child, std::net::SocketAddr),
}

impl Server {
    fn start_child(bin: &PathBuf) -> Server {
        use std::io::BufRead;
        let mut child = std::process::Command::new(bin)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--udp-port",
                "0",
                "--public-ip",
                "127.0.0.1",
            ])
            .env("SOTTO_LOG", "warn,sotto_server=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Read its log to the end, so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(addr) = line.split("listening on http://").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the server says where it listens")
            .parse()
            .expect("an address");
        Server::Child(child, addr)
    }

    fn addr(&self) -> std::net::SocketAddr {
        match self {
            Server::Here(s) => s.addr,
            Server::Child(_, a) => *a,
        }
    }

    fn pid(&self) -> u32 {
        match self {
            Server::Here(_) => std::process::id(),
            Server::Child(c, _) => c.id(),
        }
    }

    async fn stop(self) {
        match self {
            Server::Here(s) => s.stop().await,
            Server::Child(mut c, _) => {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// VmRSS of `pid`, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_leaves_no_stuck_epoch_no_undecryptable_member_and_no_leak() {
    let s = settings();
    let server = match &s.server_bin {
        Some(bin) => Server::start_child(bin),
        None => Server::Here(TestServer::start().await),
    };
    let origin = format!("http://{}", server.addr());
    let links: Arc<Vec<RoomLink>> = Arc::new(
        (0..s.rooms)
            .map(|r| new_room(&origin, &format!("churn-{r}")).0)
            .collect(),
    );
    println!(
        "churn: {} participants, {} rooms, {:?}, video from every {}th, seed {}, server {}",
        s.participants,
        s.rooms,
        s.duration,
        s.video_every,
        s.seed,
        match &s.server_bin {
            Some(b) => format!("child process {}", b.display()),
            None => "in this process (RSS is the whole test's)".to_owned(),
        }
    );

    // RSS once a second.
    let pid = server.pid();
    let (rss_tx, mut rss_rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let sampler = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Some(kib) = rss_kib(pid) {
                // And this process's: all the participants.
                let own = rss_kib(std::process::id()).unwrap_or(0);
                let _ = rss_tx.send((started.elapsed(), kib, own));
            }
        }
    });

    let deadline = started + s.duration;
    let figures = Arc::new(Mutex::new(Figures::default()));
    let probe = {
        let figures = Arc::clone(&figures);
        tokio::spawn(async move {
            loop {
                let asked = Instant::now();
                tokio::time::sleep(PROBE_SLEEP).await;
                let woke = Instant::now();
                let late = woke.duration_since(asked).saturating_sub(PROBE_SLEEP);
                if late > STALL {
                    figures
                        .lock()
                        .expect("not poisoned")
                        .stalls
                        .push((woke, late));
                }
            }
        })
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut dice = Dice::new(s.seed);
    let mut nows = Vec::new();
    let mut slots = Vec::new();
    for index in 0..s.participants {
        let now = Arc::new(Mutex::new(Now::default()));
        nows.push(Arc::clone(&now));
        let slot = Slot {
            index,
            links: Arc::clone(&links),
            deadline,
            video: index % s.video_every == 0,
            dice: Dice::new(dice.bits()),
            figures: Arc::clone(&figures),
            now,
            stop: stop_rx.clone(),
        };
        slots.push(tokio::spawn(slot.run()));
        // Do not all arrive in the same instant.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep_until(deadline).await;

    // Quiet: nobody moves. Every room must settle on one epoch.
    let quiet = Instant::now();
    let verdict = loop {
        let states: Vec<Now> = nows
            .iter()
            .map(|n| n.lock().expect("not poisoned").clone())
            .collect();
        let mut by_room: HashMap<usize, Vec<&Now>> = HashMap::new();
        for n in &states {
            if let Some(r) = n.room {
                by_room.entry(r).or_default().push(n);
            }
        }
        // One epoch, and each member's group is exactly who is there.
        let settled = by_room.values().all(|ms| {
            ms.iter()
                .zip(group_differences(ms))
                .all(|(m, (ghosts, lacks))| {
                    m.joined
                        && m.state.is_some()
                        && m.state == ms[0].state
                        && ghosts.is_empty()
                        && lacks.is_empty()
                })
        });
        if settled {
            break Ok(by_room
                .iter()
                .map(|(r, ms)| (*r, ms.len(), ms[0].state.clone()))
                .collect::<Vec<_>>());
        }
        if quiet.elapsed() > JOIN_PATIENCE {
            // Per member: joined, epoch and code, ghosts and lacks.
            break Err(by_room
                .iter()
                .map(|(r, ms)| {
                    let each = ms
                        .iter()
                        .zip(group_differences(ms))
                        .map(|(m, (ghosts, lacks))| {
                            format!(
                                "{} {:?} ghosts {ghosts:?} lacks {lacks:?}",
                                m.joined, m.state
                            )
                        })
                        .collect::<Vec<_>>();
                    (*r, each)
                })
                .collect::<Vec<_>>());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let settle_time = quiet.elapsed();
    let _ = stop_tx.send(true);
    for slot in slots {
        tokio::time::timeout(Duration::from_secs(30), slot)
            .await
            .expect("every participant leaves in time")
            .expect("no participant task panicked");
    }
    // Everyone left: the server must forget every room and participant.
    let empty = Instant::now();
    let last_metrics = loop {
        let m = metrics_at(server.addr()).await;
        let zero = |name: &str| metric(&m, name) == Some(0);
        if zero("sotto_rooms")
            && zero("sotto_participants{state=\"member\"}")
            && zero("sotto_participants{state=\"waiting\"}")
        {
            break Ok(m);
        }
        if empty.elapsed() > Duration::from_secs(15) {
            break Err(m);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    sampler.abort();
    probe.abort();
    let mut rss = Vec::new();
    let mut own_rss = Vec::new();
    while let Ok((t, server_kib, own_kib)) = rss_rx.try_recv() {
        rss.push((t, server_kib));
        own_rss.push((t, own_kib));
    }
    server.stop().await;

    let f = figures.lock().expect("not poisoned");
    let at = |t: Duration| rss.iter().find(|(s, _)| *s >= t).map(|(_, k)| *k);
    let first = rss.first().map(|(_, k)| *k);
    let quarter = at(s.duration / 4);
    let end = rss
        .iter()
        .rev()
        .find(|(t, _)| *t <= s.duration)
        .map(|(_, k)| *k);
    let max = rss.iter().map(|(_, k)| *k).max();
    let own_at = |t: Duration| own_rss.iter().find(|(s, _)| *s >= t).map(|(_, k)| *k);
    let own_end = own_rss
        .iter()
        .rev()
        .find(|(t, _)| *t <= s.duration)
        .map(|(_, k)| *k);
    let longest_unrecovered = f.unrecovered.iter().max().copied().unwrap_or_default();
    let longest_unrecovered_as_member = f
        .unrecovered_as_member
        .iter()
        .max()
        .copied()
        .unwrap_or_default();
    println!(
        "churn: joins {} (members {}, left before being let in {}), leaves {}, kills {}, stuck joins {}",
        f.joins,
        f.joined,
        f.left_unjoined,
        f.leaves,
        f.kills,
        f.stuck_joins.len()
    );
    println!(
        "churn: join to member: mean {:?}, max {:?}",
        f.join_latency_sum / (f.joined.max(1) as u32),
        f.join_latency_max
    );
    let mut epochs: Vec<_> = f.max_epoch.iter().collect();
    epochs.sort();
    println!(
        "churn: epoch changes seen {}; highest epoch per room {epochs:?}; settled in {settle_time:?}: {verdict:?}",
        f.epoch_changes
    );
    println!(
        "churn: tracks that failed to decrypt then recovered {} ({} frames); longest stretch of \
         failing frames {:?} ({:?} as a member); from a first failure to the next frame that \
         opened: longest {:?}, {} over {:?}; still failing at a track's or a participation's \
         end: {} (longest, first to last report, {longest_unrecovered:?}, \
         {longest_unrecovered_as_member:?} as a member; a report a second at most, so under a \
         second more)",
        f.recoveries,
        f.failed_frames,
        f.longest_failing,
        f.longest_failing_as_member,
        f.longest_until_open,
        f.until_open_over_bound,
        bound(),
        f.unrecovered.len()
    );
    println!(
        "churn: recovered runs of failing frames as a member, by length: under 0.5 s {}, \
         0.5-1 s {}, 1-1.5 s {}, 1.5-2 s {}, longer {}",
        f.by_length[0], f.by_length[1], f.by_length[2], f.by_length[3], f.by_length[4]
    );
    println!(
        "churn: decrypt failure reports by error {:?}; stretches over {:?} by error {:?}",
        f.failure_kinds,
        bound(),
        f.long_stretch_kinds
    );
    for d in &f.long_details {
        println!("churn: late to open: {d}");
    }
    let stalled: Duration = f.stalls.iter().map(|(_, d)| *d).sum();
    println!(
        "churn: the test's runtime (all participants) stalled {} times over {STALL:?}, \
         {} over 250 ms, longest {:?}, {:?} in all",
        f.stalls.len(),
        f.stalls
            .iter()
            .filter(|(_, d)| *d > Duration::from_millis(250))
            .count(),
        f.stalls.iter().map(|(_, d)| *d).max().unwrap_or_default(),
        stalled
    );
    println!(
        "churn: reconnections {}; warnings {} (some: {:?})",
        f.reconnects, f.warnings, f.some_warnings
    );
    println!(
        "churn: RSS KiB first {first:?}, at a quarter {quarter:?}, at the end {end:?}, max {max:?} ({} samples)",
        rss.len()
    );
    if s.server_bin.is_some() {
        // Reported, not bounded: this process also keeps every event.
        println!(
            "churn: this process (all participants) RSS KiB at a quarter {:?}, at half {:?}, at the end {own_end:?}",
            own_at(s.duration / 4),
            own_at(s.duration / 2),
        );
    }

    println!(
        "churn: server empty after everyone left: {}",
        if last_metrics.is_ok() { "yes" } else { "NO" }
    );

    assert!(f.stuck_joins.is_empty(), "stuck joins: {:?}", f.stuck_joins);
    assert!(f.joined > 0, "nobody ever joined");
    let by_room =
        verdict.unwrap_or_else(|rooms| panic!("rooms did not settle on one epoch: {rooms:?}"));
    assert!(!by_room.is_empty(), "nobody was in a room at the end");
    let bound = bound();
    assert!(
        f.longest_failing_as_member <= bound && longest_unrecovered_as_member <= bound,
        "a member could not decrypt a track for {:?} (recovered) / \
         {longest_unrecovered_as_member:?} (unrecovered), over {bound:?}",
        f.longest_failing_as_member
    );
    let last_metrics = last_metrics.unwrap_or_else(|m| panic!("the server still has rooms: {m}"));
    assert!(last_metrics.contains("sotto_rooms 0"));
    if s.server_bin.is_some() {
        let (quarter, end) = (quarter.expect("sampled"), end.expect("sampled"));
        assert!(
            end <= quarter + RSS_GROWTH_BOUND_KIB,
            "server RSS grew from {quarter} KiB at a quarter of the run to {end} KiB at its end"
        );
    }
}
