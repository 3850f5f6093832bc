//! A session that is a member of the group: processing commits, and the
//! state the other jobs share. Each job has its file: `joins` (join
//! requests, knocks, departures, removals), `commit` (the commit policy of
//! `spec/mls-profile.md` §5 and building commits), `apps` (application
//! messages).

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::Duration;

use openmls::prelude::{
    ContentType, KeyPackage, MlsGroup, MlsMessageBodyIn, OpenMlsProvider, OpenMlsRand,
    ProcessedMessageContent, ProtocolMessage, Sender, StagedCommit,
};

use apps::MislabelledApp;

use super::Ctx;
use super::event::{EndReason, Event, Input, Output, SessionError};
use super::group::{self, MemberInfo, internal, rejected};
use crate::ParticipantId;
use crate::app::AppMessage;
use crate::time::Instant;
use crate::verify::Fingerprint;

mod apps;
mod commit;
mod joins;

/// A join waiting to be committed.
struct PendingJoin {
    key_package: KeyPackage,
    /// Accepted by this member after a knock (only it will commit it).
    knock: bool,
}

/// Our commit, sent and waiting for the server's verdict.
struct InFlight {
    epoch: u64,
    /// When it went out: without a verdict by `verdict_timeout` later, it
    /// is given up (see `tick`).
    sent: Instant,
}

pub(crate) struct Member {
    group: MlsGroup,
    roster: BTreeMap<u32, MemberInfo>,
    joins: BTreeMap<ParticipantId, PendingJoin>,
    leaves: BTreeSet<ParticipantId>,
    /// Members this member's user asked to remove: it commits those itself.
    removing: BTreeSet<ParticipantId>,
    /// Ids the server relayed two different KeyPackages for (see `joins`).
    conflicted: HashSet<ParticipantId>,
    /// When the oldest uncommitted change arrived (start of the batch).
    pending_since: Option<Instant>,
    knocks: BTreeMap<ParticipantId, KeyPackage>,
    /// Everyone the server announced as gone: ids are never reused, and a
    /// departed participant that a commit adds anyway is removed again.
    departed: HashSet<ParticipantId>,
    /// KeyPackages already used in this group (RFC 9420 §16.8: a
    /// KeyPackage is used once), by hash reference.
    used_key_packages: HashSet<Vec<u8>>,
    in_flight: Option<InFlight>,
    /// The epoch in which our last commit lost (`stale_epoch`): we commit
    /// nothing more until the winner moved us on. Retrying at once would
    /// loop as fast as the server answers if the winner never arrives.
    lost_in: Option<u64>,
    /// A commit that authenticated but was relayed as from someone else:
    /// refused, but kept, because processing it used up its sender's
    /// ratchet generation (openmls applies the ratchet step on success),
    /// so the same bytes relayed under the right name must still apply.
    mislabelled: Option<Mislabelled>,
    /// The same for application messages: the last few that opened but
    /// were relayed under another name, so that the genuine relay of the
    /// same bytes still delivers them (the server could drop them anyway;
    /// it should not be able to make a member refuse them).
    mislabelled_apps: VecDeque<MislabelledApp>,
    next_self_update: Instant,
}

struct Mislabelled {
    epoch: u64,
    bytes: Vec<u8>,
    sender: u32,
    actual: Result<ParticipantId, String>,
    staged: Box<StagedCommit>,
}

impl Member {
    /// A member of `group`, which it just created or joined at `now`.
    pub(crate) fn start(
        ctx: &mut Ctx,
        group: MlsGroup,
        now: Instant,
    ) -> Result<Member, SessionError> {
        let roster = group::roster(&group, ctx.admission.as_ref())?;
        let mut m = Member {
            group,
            roster,
            joins: BTreeMap::new(),
            leaves: BTreeSet::new(),
            removing: BTreeSet::new(),
            conflicted: HashSet::new(),
            pending_since: None,
            knocks: BTreeMap::new(),
            departed: HashSet::new(),
            used_key_packages: HashSet::new(),
            in_flight: None,
            lost_in: None,
            mislabelled: None,
            mislabelled_apps: VecDeque::new(),
            next_self_update: now,
        };
        m.schedule_self_update(ctx, now);
        let epoch = m.epoch();
        ctx.events.push_back(Event::EpochKeys(group::epoch_keys(
            &m.group,
            &ctx.provider,
            &m.roster,
        )?));
        ctx.events.push_back(Event::Joined {
            epoch,
            room_code: group::room_code(&m.group),
            own_leaf: m.own_leaf(),
        });
        for info in m.roster.values().filter(|i| i.leaf != m.own_leaf()) {
            ctx.events.push_back(added(info, None));
        }
        m.announce(ctx, true)?;
        Ok(m)
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.group.epoch().as_u64()
    }

    pub(crate) fn own_leaf(&self) -> u32 {
        self.group.own_leaf_index().u32()
    }

    fn own_participant(&self) -> ParticipantId {
        self.roster
            .get(&self.own_leaf())
            .map(|m| m.participant.clone())
            .unwrap_or_else(|| unreachable!("our own leaf is in the roster"))
    }

    pub(crate) fn group(&self) -> &MlsGroup {
        &self.group
    }

    pub(crate) fn roster(&self) -> &BTreeMap<u32, MemberInfo> {
        &self.roster
    }

    pub(crate) fn knocks(&self) -> impl Iterator<Item = (&ParticipantId, Fingerprint)> {
        self.knocks.iter().map(|(p, kp)| {
            (
                p,
                Fingerprint::of(kp.leaf_node().signature_key().as_slice()),
            )
        })
    }

    fn member_by_participant(&self, p: &ParticipantId) -> Option<&MemberInfo> {
        self.roster.values().find(|m| &m.participant == p)
    }

    /// Jittered by ±20 % so that members do not all update at once.
    fn schedule_self_update(&mut self, ctx: &Ctx, now: Instant) {
        let base = ctx.config.self_update_interval.as_millis() as u64;
        let r = ctx
            .provider
            .rand()
            .random_array::<8>()
            .map_or(0, u64::from_be_bytes);
        let jitter = base / 5;
        let offset = if jitter == 0 { 0 } else { r % (2 * jitter + 1) };
        self.next_self_update = now + Duration::from_millis(base - jitter + offset);
    }

    /// Sends an ack for the new epoch and, when someone new is there to
    /// learn them, our display name and our status.
    fn announce(&mut self, ctx: &mut Ctx, with_profile: bool) -> Result<(), SessionError> {
        if self.roster.len() < 2 {
            return Ok(());
        }
        let epoch = self.epoch();
        self.send(ctx, &AppMessage::Ack { epoch })?;
        if with_profile && let Some(name) = ctx.profile.clone() {
            self.send(ctx, &AppMessage::Profile { name })?;
        }
        if with_profile && let Some(status) = ctx.status {
            self.send(ctx, &AppMessage::Status(status))?;
        }
        Ok(())
    }

    /// Encrypts an application message for the group.
    pub(crate) fn send(&mut self, ctx: &mut Ctx, msg: &AppMessage) -> Result<(), SessionError> {
        let bytes = msg.encode()?;
        let out = self
            .group
            .create_message(&ctx.provider, &ctx.signer, &bytes)
            .map_err(internal)?;
        ctx.outputs
            .push_back(Output::Application(group::to_bytes(&out)?));
        Ok(())
    }

    /// Parses a PrivateMessage of `content` type made in a current or
    /// recent epoch.
    fn private_message(
        input: Input,
        bytes: &[u8],
        content: ContentType,
    ) -> Result<ProtocolMessage, SessionError> {
        let MlsMessageBodyIn::PrivateMessage(pm) = group::parse(input, bytes)? else {
            return Err(rejected(input, "not a PrivateMessage"));
        };
        let pm = ProtocolMessage::from(pm);
        if pm.content_type() != content {
            return Err(rejected(input, format!("{:?} content", pm.content_type())));
        }
        Ok(pm)
    }

    /// Processes the commit that won `epoch` (not ours). Returns the end
    /// reason if it removed us.
    pub(crate) fn handle_commit(
        &mut self,
        ctx: &mut Ctx,
        from: &ParticipantId,
        epoch: u64,
        bytes: &[u8],
        now: Instant,
    ) -> Result<Option<EndReason>, SessionError> {
        let expected = self.epoch();
        if epoch != expected {
            return Err(SessionError::WrongEpoch {
                expected,
                got: epoch,
            });
        }
        let same = |m: &Mislabelled| m.epoch == expected && m.bytes == bytes;
        let kept = match &self.mislabelled {
            Some(m) if same(m) => self.mislabelled.take(),
            _ => None,
        };
        let (sender, actual, staged) = match kept {
            Some(m) => (m.sender, m.actual, m.staged),
            None => {
                let pm = Self::private_message(Input::Commit, bytes, ContentType::Commit)?;
                if pm.epoch().as_u64() != expected {
                    return Err(SessionError::WrongEpoch {
                        expected,
                        got: pm.epoch().as_u64(),
                    });
                }
                // Our own pending commit (if any) stays until the winner is
                // known to be valid: merging the winner discards it.
                let processed = self
                    .group
                    .process_message(&ctx.provider, pm)
                    .map_err(|e| rejected(Input::Commit, e))?;
                let Sender::Member(sender) = processed.sender() else {
                    return Err(rejected(Input::Commit, "commit from a non-member"));
                };
                let sender = sender.u32();
                let actual = group::participant_of(processed.credential());
                let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content()
                else {
                    return Err(rejected(Input::Commit, "not a commit"));
                };
                (sender, actual, staged)
            }
        };
        if actual.as_ref() != Ok(from) {
            let err = SessionError::SenderMismatch {
                claimed: from.clone(),
                actual: match &actual {
                    Ok(p) => p.as_str().to_owned(),
                    Err(e) => e.clone(),
                },
            };
            self.mislabelled = Some(Mislabelled {
                epoch: expected,
                bytes: bytes.to_vec(),
                sender,
                actual,
                staged,
            });
            return Err(err);
        }
        self.check_adds(&staged)?;
        if let Some(k) = &ctx.admission {
            let next = staged.group_context();
            if !group::bound_to_room(next.extensions(), next.group_id(), k) {
                return Err(rejected(Input::Commit, "commit drops the room binding"));
            }
        }
        self.record_key_packages(ctx, &staged);
        self.mislabelled = None;
        let removed = staged.self_removed();
        self.group
            .merge_staged_commit(&ctx.provider, *staged)
            .map_err(internal)?;
        self.in_flight = None;
        if removed {
            return Ok(Some(EndReason::Removed));
        }
        let committer = self.roster.get(&sender).map(|m| m.participant.clone());
        self.after_epoch_change(ctx, committer, now)?;
        Ok(None)
    }

    /// Every member a commit adds must be a basic credential naming a new
    /// participant id (RFC 9420 §5.3.1 leaves credential checks to us).
    fn check_adds(&self, staged: &StagedCommit) -> Result<(), SessionError> {
        let mut seen = BTreeSet::new();
        for add in staged.add_proposals() {
            let kp = add.add_proposal().key_package();
            let p =
                group::participant_of(kp.leaf_node().credential()).map_err(SessionError::BadAdd)?;
            let leaving = self.leaves.contains(&p)
                || staged.remove_proposals().any(|r| {
                    self.roster
                        .get(&r.remove_proposal().removed().u32())
                        .is_some_and(|m| m.participant == p)
                });
            if (self.member_by_participant(&p).is_some() && !leaving) || !seen.insert(p.clone()) {
                return Err(SessionError::BadAdd(format!("{p:?} is already a member")));
            }
        }
        Ok(())
    }

    /// Remembers the KeyPackages a commit uses, so a replay of one is
    /// refused (RFC 9420 §16.8).
    fn record_key_packages(&mut self, ctx: &Ctx, staged: &StagedCommit) {
        for add in staged.add_proposals() {
            if let Ok(r) = add
                .add_proposal()
                .key_package()
                .hash_ref(ctx.provider.crypto())
            {
                self.used_key_packages.insert(r.as_slice().to_vec());
            }
        }
    }

    pub(crate) fn handle_commit_accepted(
        &mut self,
        ctx: &mut Ctx,
        epoch: u64,
        now: Instant,
    ) -> Result<(), SessionError> {
        match &self.in_flight {
            None => Err(SessionError::WrongState {
                call: "handle_commit_accepted",
                state: "no commit is waiting for a verdict",
            }),
            Some(f) if f.epoch != epoch => Err(SessionError::WrongEpoch {
                expected: f.epoch,
                got: epoch,
            }),
            Some(_) => {
                // Cloned: the group holds it and merging consumes it.
                if let Some(staged) = self.group.pending_commit() {
                    let refs: Vec<Vec<u8>> = staged
                        .add_proposals()
                        .filter_map(|a| {
                            a.add_proposal()
                                .key_package()
                                .hash_ref(ctx.provider.crypto())
                                .ok()
                        })
                        .map(|r| r.as_slice().to_vec())
                        .collect();
                    self.used_key_packages.extend(refs);
                }
                let approved = self.approved_keys();
                self.group
                    .merge_pending_commit(&ctx.provider)
                    .map_err(internal)?;
                self.in_flight = None;
                self.schedule_self_update(ctx, now);
                let me = ctx.participant.clone();
                self.after_epoch_change(ctx, Some(me), now)?;
                self.check_approved(ctx, approved, now);
                Ok(())
            }
        }
    }

    /// Our commit lost. Whatever it carried stays pending: the winner
    /// arrives through `handle_commit` (before or after this), and what it
    /// does not cover is committed in the next epoch.
    pub(crate) fn handle_commit_rejected(&mut self, ctx: &mut Ctx) -> Result<(), SessionError> {
        if self.in_flight.take().is_some() {
            self.group
                .clear_pending_commit(ctx.provider.storage())
                .map_err(internal)?;
            self.lost_in = Some(self.epoch());
        }
        Ok(())
    }

    /// Whether our last commit lost in this epoch: then we wait for the
    /// winner before committing again.
    fn waiting_for_winner(&self) -> bool {
        self.lost_in == Some(self.epoch())
    }

    /// Diffs the roster, emits the new epoch's events and keys, and keeps
    /// every change the commit did not cover pending.
    fn after_epoch_change(
        &mut self,
        ctx: &mut Ctx,
        committer: Option<ParticipantId>,
        now: Instant,
    ) -> Result<(), SessionError> {
        let new = group::roster(&self.group, ctx.admission.as_ref())?;
        let old = std::mem::replace(&mut self.roster, new);
        let same = |a: &MemberInfo, b: &MemberInfo| {
            a.participant == b.participant && a.signature_key == b.signature_key
        };
        for (leaf, info) in &old {
            if !self.roster.get(leaf).is_some_and(|n| same(n, info)) {
                ctx.events.push_back(Event::MemberRemoved {
                    participant: info.participant.clone(),
                    leaf: *leaf,
                    removed_by: committer.clone(),
                });
            }
        }
        let epoch = self.epoch();
        ctx.events.push_back(Event::EpochKeys(group::epoch_keys(
            &self.group,
            &ctx.provider,
            &self.roster,
        )?));
        ctx.events.push_back(Event::EpochChanged {
            epoch,
            room_code: group::room_code(&self.group),
        });
        let mut anyone_added = false;
        for (leaf, info) in &self.roster {
            if !old.get(leaf).is_some_and(|o| same(o, info)) {
                anyone_added = true;
                ctx.events.push_back(added(info, committer.clone()));
            }
        }
        // Reconcile: joins now in the group and leaves now gone are done.
        let present: BTreeSet<ParticipantId> = self
            .roster
            .values()
            .map(|m| m.participant.clone())
            .collect();
        self.joins.retain(|p, _| !present.contains(p));
        let closed: Vec<ParticipantId> = self
            .knocks
            .keys()
            .filter(|p| present.contains(*p))
            .cloned()
            .collect();
        for p in closed {
            self.knocks.remove(&p);
            ctx.events.push_back(Event::KnockClosed { participant: p });
        }
        self.leaves.retain(|p| present.contains(p));
        self.removing.retain(|p| present.contains(p));
        for p in present.iter().filter(|p| self.departed.contains(*p)) {
            self.leaves.insert(p.clone());
        }
        self.pending_since = if self.joins.is_empty() && self.leaves.is_empty() {
            None
        } else {
            Some(now)
        };
        self.announce(ctx, anyone_added)?;
        Ok(())
    }
}

fn added(info: &MemberInfo, added_by: Option<ParticipantId>) -> Event {
    Event::MemberAdded {
        participant: info.participant.clone(),
        leaf: info.leaf,
        fingerprint: info.fingerprint.clone(),
        admission: info.admission,
        added_by,
    }
}
