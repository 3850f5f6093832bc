//! MLS costs at room sizes 10, 100 and 500, through the whole `Session`
//! (KeyPackage checks, admission tags, roster, epoch keys, events):
//!
//! * `commit_add/produce/N`: the committer makes a commit adding one member
//!   (with a fresh path) to a group of N;
//! * `commit_add/apply/N`: another member processes and merges it;
//! * `welcome/N`: the new member joins from the Welcome (ratchet tree
//!   included) into a group of N + 1.
//!
//! Only two members of each group are live (the committer and one
//! receiver); the others' leaves are real but their sessions are dropped.
//! Each measured Add is undone by an unmeasured removal, so the group
//! stays at N.

use std::hint::black_box;
use std::time::{Duration, Instant as WallClock};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sotto_crypto::admission::RoomSecret;
use sotto_crypto::identity::Identity;
use sotto_crypto::session::{CommitOut, Output, Session, SessionConfig};
use sotto_crypto::{Instant, ParticipantId};

const ROOM: &str = "bench-room";

struct Group {
    config: SessionConfig,
    secret: RoomSecret,
    committer: Session,
    receiver: Session,
    now: Instant,
    next: u32,
}

fn id(n: u32) -> ParticipantId {
    ParticipantId::new(format!("p{n:05}")).expect("id")
}

fn drain(s: &mut Session) -> Option<CommitOut> {
    while s.poll_event().is_some() {}
    let mut commit = None;
    while let Some(o) = s.poll_output() {
        if let Output::Commit(c) = o {
            commit = Some(c);
        }
    }
    commit
}

/// A participant with the link, waiting, and its KeyPackage.
fn joiner(config: SessionConfig, secret: &RoomSecret, n: u32) -> (ParticipantId, Session, Vec<u8>) {
    let p = id(n);
    let identity = Identity::generate().expect("identity");
    let mut s = Session::join(config, &identity, p.clone(), ROOM, Some(secret)).expect("join");
    let Some(Output::KeyPackage(kp)) = s.poll_output() else {
        panic!("no KeyPackage")
    };
    (p, s, kp)
}

impl Group {
    fn joiner(&mut self) -> (ParticipantId, Session, Vec<u8>) {
        self.next += 1;
        joiner(self.config, &self.secret, self.next)
    }

    /// Lets the committer commit what it has queued; returns the commit.
    fn commit(&mut self) -> CommitOut {
        self.now = self.now + Duration::from_millis(250);
        self.committer.tick(self.now).expect("tick");
        let c = drain(&mut self.committer).expect("a commit");
        self.committer
            .handle_commit_accepted(c.epoch, self.now)
            .expect("accepted");
        drain(&mut self.committer);
        c
    }

    fn new(n: u32) -> Group {
        let config = SessionConfig {
            self_update_interval: Duration::from_secs(365 * 24 * 3600),
            ..SessionConfig::default()
        };
        let secret = RoomSecret::from_bytes([1; 16]);
        let identity = Identity::generate().expect("identity");
        let mut committer = Session::create(config, &identity, id(0), ROOM, &secret, Instant::ZERO)
            .expect("create");
        let (rid, mut receiver, kp) = joiner(config, &secret, 1);
        drain(&mut receiver);
        committer
            .handle_join_request(rid, &kp, Instant::ZERO)
            .expect("join request");
        let mut g = Group {
            config,
            secret,
            committer,
            receiver,
            now: Instant::ZERO,
            next: 1,
        };
        for _ in 2..n {
            let (p, _, kp) = g.joiner();
            g.committer
                .handle_join_request(p, &kp, g.now)
                .expect("join request");
        }
        let c = g.commit();
        g.receiver
            .handle_welcome(&id(0), c.welcome.as_deref().expect("welcome"), g.now)
            .expect("welcome");
        drain(&mut g.receiver);
        assert_eq!(g.receiver.members().len(), n as usize);
        g
    }

    /// One Add (timing its three parts), then an unmeasured removal.
    fn add_one(&mut self) -> [Duration; 3] {
        let (p, mut joiner, kp) = self.joiner();
        self.committer
            .handle_join_request(p.clone(), &kp, self.now)
            .expect("join request");
        self.now = self.now + Duration::from_millis(250);
        let t = WallClock::now();
        self.committer.tick(self.now).expect("tick");
        let produce = t.elapsed();
        let c = drain(&mut self.committer).expect("a commit");
        self.committer
            .handle_commit_accepted(c.epoch, self.now)
            .expect("accepted");
        drain(&mut self.committer);
        let t = WallClock::now();
        self.receiver
            .handle_commit(&id(0), c.epoch, &c.commit, self.now)
            .expect("apply");
        let apply = t.elapsed();
        drain(&mut self.receiver);
        let t = WallClock::now();
        joiner
            .handle_welcome(&id(0), c.welcome.as_deref().expect("welcome"), self.now)
            .expect("welcome");
        let welcome = t.elapsed();
        black_box(drain(&mut joiner));

        self.committer.handle_departure(p.clone(), self.now);
        self.receiver.handle_departure(p, self.now);
        let c = self.commit();
        self.receiver
            .handle_commit(&id(0), c.epoch, &c.commit, self.now)
            .expect("apply removal");
        drain(&mut self.receiver);
        [produce, apply, welcome]
    }
}

fn bench(c: &mut Criterion) {
    for n in [10u32, 100, 500] {
        let mut g = Group::new(n);
        let mut group = c.benchmark_group("mls");
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(if n >= 500 { 20 } else { 5 }));
        for (part, name) in ["commit_add_produce", "commit_add_apply", "welcome"]
            .into_iter()
            .enumerate()
        {
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter_custom(|iters| (0..iters).map(|_| g.add_one()[part]).sum())
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
