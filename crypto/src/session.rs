//! One participant's MLS session in one room, sans-IO.
//!
//! The server is the MLS delivery service and cannot parse MLS; it relays
//! KeyPackages, commits, Welcomes and application messages and orders
//! commits (the first for the current epoch wins). A [`Session`] mirrors
//! that signalling protocol (`spec/protocol.md` §3–4): each server message
//! has a `handle_*` input, time comes in as `now`, and what to send and
//! what happened come out of [`Session::poll_output`] and
//! [`Session::poll_event`].
//!
//! ```text
//!                  Session::join (KeyPackage out)
//!    (start) -------------------------------------> [Waiting]
//!       |                                           |   |   |  Welcome without a valid
//!       |                  Welcome (binding ok)     |   |   |  room binding (with SECRET)
//!       |                ,--------------------------'   |   v
//!       |                |  become_creator (SECRET)     |  [Ended(GhostRoom)]
//!       |                |  ,---------------------------'
//!       | Session::create v  v
//!       `-------------> [Member] --a commit removes us--> [Ended(Removed)]
//! ```
//!
//! # Drive loop
//!
//! ```text
//! loop {
//!     feed the next server message to the matching handle_*(.., now)
//!     or, when poll_timeout() has passed, tick(now)
//!     while let Some(o) = poll_output() { send it to the server }
//!     while let Some(e) = poll_event()  { update UI; EpochKeys/KeyAck go to the KeyRing }
//! }
//! ```
//!
//! Errors from `handle_*` name what was refused; the session stays in a
//! consistent state (same epoch, same members) and goes on.

mod config;
mod event;
mod group;
mod member;
mod storage;

use std::collections::VecDeque;

use openmls::prelude::{
    CredentialWithKey, KeyPackageBundle, MlsMessageBodyIn, OpenMlsProvider, StagedWelcome,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_traits::storage::StorageProvider as _;
use storage::Provider;

pub use config::{
    CIPHERSUITE, KEY_PACKAGE_LIFETIME_SECS, MAX_KEY_PACKAGE_BYTES, MAX_KEY_PACKAGE_RANGE_SECS,
    MAX_MLS_MESSAGE_BYTES, MAX_PAST_EPOCHS, PADDING_BYTES, SessionConfig,
};
pub use event::{Admission, CommitOut, EndReason, Event, Input, Output, SessionError};
pub use group::MemberInfo;

use crate::ParticipantId;
use crate::admission::{AdmissionKey, RoomSecret};
use crate::app::AppMessage;
use crate::identity::Identity;
use crate::keys::EpochKeys;
use crate::time::Instant;
use crate::verify::{Fingerprint, RoomCode};
use member::Member;

/// Everything the phases share.
pub(crate) struct Ctx {
    config: SessionConfig,
    provider: Provider,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
    participant: ParticipantId,
    admission: Option<AdmissionKey>,
    profile: Option<String>,
    /// Our last word on our state, sent again to every member who joins.
    status: Option<crate::app::Status>,
    outputs: VecDeque<Output>,
    events: VecDeque<Event>,
}

enum Phase {
    /// A joiner whose KeyPackage is out; kept to restore it if a forged
    /// Welcome made openmls delete it.
    Waiting(Box<KeyPackageBundle>),
    Member(Box<Member>),
    Ended(EndReason),
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for a Welcome.
    Waiting,
    /// In the group.
    Member,
    /// Over.
    Ended(EndReason),
}

/// One participant's view of one room's MLS group.
pub struct Session {
    ctx: Ctx,
    phase: Phase,
    /// Participants the server said left while we waited: the group that
    /// welcomes us may still have their leaves (the commit that added us
    /// was made before its committer heard), and the members that heard may
    /// be gone before they remove them, so we remove them too.
    departed_while_waiting: Vec<ParticipantId>,
}

/// Most departures kept while waiting (a server could send endless ones).
const DEPARTED_WHILE_WAITING_KEPT: usize = 256;

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("participant", &self.ctx.participant)
            .field("state", &self.state())
            .field("epoch", &self.epoch())
            .finish()
    }
}

impl Session {
    fn ctx(
        config: SessionConfig,
        identity: &Identity,
        participant: ParticipantId,
        room: &str,
        secret: Option<&RoomSecret>,
    ) -> Ctx {
        let signer = identity.signer();
        let credential = group::credential(&participant, &signer);
        Ctx {
            config,
            provider: Provider::default(),
            signer,
            credential,
            participant,
            admission: secret.map(|s| s.admission_key(room)),
            profile: None,
            status: None,
            outputs: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The room's first participant (`joined` with role `creator`): creates
    /// the group at epoch 0, bound to `room` with `secret`.
    pub fn create(
        config: SessionConfig,
        identity: &Identity,
        participant: ParticipantId,
        room: &str,
        secret: &RoomSecret,
        now: Instant,
    ) -> Result<Session, SessionError> {
        let mut ctx = Self::ctx(config, identity, participant, room, Some(secret));
        let member = Self::found(&mut ctx, now)?;
        Ok(Session {
            ctx,
            phase: Phase::Member(Box::new(member)),
            departed_while_waiting: Vec::new(),
        })
    }

    fn found(ctx: &mut Ctx, now: Instant) -> Result<Member, SessionError> {
        let admission = ctx.admission.as_ref().ok_or(SessionError::NoSecret)?;
        let group = group::create_group(
            &ctx.provider,
            &ctx.signer,
            ctx.credential.clone(),
            admission,
        )?;
        Member::start(ctx, group, now)
    }

    /// A participant that waits to be admitted (`joined` with role
    /// `joiner`). Its KeyPackage comes out of [`poll_output`](Self::poll_output).
    /// Without `secret` it knocks.
    pub fn join(
        config: SessionConfig,
        identity: &Identity,
        participant: ParticipantId,
        room: &str,
        secret: Option<&RoomSecret>,
    ) -> Result<Session, SessionError> {
        let mut ctx = Self::ctx(config, identity, participant, room, secret);
        let (bundle, bytes) = group::key_package(
            &ctx.provider,
            &ctx.signer,
            ctx.credential.clone(),
            ctx.admission.as_ref(),
        )?;
        ctx.outputs.push_back(Output::KeyPackage(bytes));
        Ok(Session {
            ctx,
            phase: Phase::Waiting(Box::new(bundle)),
            departed_while_waiting: Vec::new(),
        })
    }

    fn state_name(&self) -> &'static str {
        match self.phase {
            Phase::Waiting(_) => "waiting for a Welcome",
            Phase::Member(_) => "a member",
            Phase::Ended(_) => "ended",
        }
    }

    fn member(&mut self, call: &'static str) -> Result<(&mut Ctx, &mut Member), SessionError> {
        let state = self.state_name();
        match &mut self.phase {
            Phase::Member(m) => Ok((&mut self.ctx, m)),
            _ => Err(SessionError::WrongState { call, state }),
        }
    }

    /// `become_creator`: the last member left while we waited. Creates a
    /// new group at epoch 0; without SECRET this fails with
    /// [`SessionError::NoSecret`] and the client should leave.
    pub fn handle_become_creator(&mut self, now: Instant) -> Result<(), SessionError> {
        let Phase::Waiting(bundle) = &self.phase else {
            return Err(SessionError::WrongState {
                call: "handle_become_creator",
                state: self.state_name(),
            });
        };
        let kp_ref = bundle
            .key_package()
            .hash_ref(self.ctx.provider.crypto())
            .map_err(group::internal)?;
        let member = Self::found(&mut self.ctx, now)?;
        // A group of our own: nobody's leaf to remove.
        self.departed_while_waiting.clear();
        // The KeyPackage will never be used now.
        let _ = self.ctx.provider.storage().delete_key_package(&kp_ref);
        self.phase = Phase::Member(Box::new(member));
        Ok(())
    }

    /// `become_creator` for a participant without SECRET (a knocker): the
    /// room is empty, so it opens it afresh with `secret`, one it just
    /// made, as the first arrival by the room's name does. Nobody's link
    /// is older than the new group.
    pub fn handle_become_creator_opening(
        &mut self,
        room: &str,
        secret: &RoomSecret,
        now: Instant,
    ) -> Result<(), SessionError> {
        if self.ctx.admission.is_none() {
            self.ctx.admission = Some(secret.admission_key(room));
        }
        self.handle_become_creator(now)
    }

    /// `welcome`: joins the group. With SECRET, a group without this room's
    /// binding is refused and the session ends ([`EndReason::GhostRoom`]).
    /// A Welcome that does not parse or decrypt leaves the session waiting.
    pub fn handle_welcome(
        &mut self,
        from: &ParticipantId,
        welcome: &[u8],
        now: Instant,
    ) -> Result<(), SessionError> {
        let Phase::Waiting(bundle) = &self.phase else {
            return Err(SessionError::WrongState {
                call: "handle_welcome",
                state: self.state_name(),
            });
        };
        let ctx = &mut self.ctx;
        let MlsMessageBodyIn::Welcome(welcome) = group::parse(Input::Welcome, welcome)? else {
            return Err(group::rejected(Input::Welcome, "not a Welcome"));
        };
        if welcome.ciphersuite() != CIPHERSUITE {
            return Err(group::rejected(Input::Welcome, "wrong ciphersuite"));
        }
        // openmls deletes the KeyPackage as soon as a Welcome names it,
        // before decrypting: a forged Welcome must not cost us the real one.
        let kp_ref = bundle
            .key_package()
            .hash_ref(ctx.provider.crypto())
            .map_err(group::internal)?;
        ctx.provider
            .storage()
            .write_key_package(&kp_ref, bundle.as_ref())
            .map_err(group::internal)?;
        let staged =
            StagedWelcome::build_from_welcome(&ctx.provider, &config::join_config(), welcome)
                .and_then(|b| b.build())
                .map_err(|e| group::rejected(Input::Welcome, e))?;
        if let Some(k) = &ctx.admission {
            let gc = staged.group_context();
            if !group::bound_to_room(gc.extensions(), gc.group_id(), k) {
                let _ = ctx.provider.storage().delete_key_package(&kp_ref);
                ctx.events.push_back(Event::Ended(EndReason::GhostRoom));
                self.phase = Phase::Ended(EndReason::GhostRoom);
                return Err(SessionError::GhostRoom);
            }
        }
        let sender = staged
            .welcome_sender()
            .map_err(|e| group::rejected(Input::Welcome, e))?;
        if group::participant_of(sender.credential()).as_ref() != Ok(from) {
            return Err(SessionError::SenderMismatch {
                claimed: from.clone(),
                actual: group::identity_text(sender.credential()),
            });
        }
        let group = staged
            .into_group(&ctx.provider)
            .map_err(|e| group::rejected(Input::Welcome, e))?;
        let _ = ctx.provider.storage().delete_key_package(&kp_ref);
        let mut member = Member::start(ctx, group, now)?;
        for p in std::mem::take(&mut self.departed_while_waiting) {
            member.handle_departure(ctx, p, now);
        }
        self.phase = Phase::Member(Box::new(member));
        Ok(())
    }

    /// `join_request`: a waiting participant's KeyPackage. With a valid
    /// admission tag (and SECRET here) it is queued for the next commit;
    /// otherwise it is a knock ([`Event::Knock`]).
    pub fn handle_join_request(
        &mut self,
        participant: ParticipantId,
        key_package: &[u8],
        now: Instant,
    ) -> Result<(), SessionError> {
        let (ctx, m) = self.member("handle_join_request")?;
        m.handle_join_request(ctx, participant, key_package, now)
    }

    /// `left`: a participant is gone. A member's leaf is removed in the next
    /// commit; a waiting participant's join or knock is dropped. Heard
    /// while we wait, it is kept until the Welcome: the group may still
    /// have that leaf.
    pub fn handle_departure(&mut self, participant: ParticipantId, now: Instant) {
        match &mut self.phase {
            Phase::Member(m) => m.handle_departure(&mut self.ctx, participant, now),
            Phase::Waiting(_) => {
                let kept = &mut self.departed_while_waiting;
                if kept.len() == DEPARTED_WHILE_WAITING_KEPT {
                    kept.remove(0);
                }
                kept.push(participant);
            }
            Phase::Ended(_) => {}
        }
    }

    /// `commit` from the server: the commit that won `epoch`.
    pub fn handle_commit(
        &mut self,
        from: &ParticipantId,
        epoch: u64,
        commit: &[u8],
        now: Instant,
    ) -> Result<(), SessionError> {
        let (ctx, m) = self.member("handle_commit")?;
        if let Some(reason) = m.handle_commit(ctx, from, epoch, commit, now)? {
            ctx.events.push_back(Event::Ended(reason));
            self.phase = Phase::Ended(reason);
        }
        Ok(())
    }

    /// `commit_accepted`: our commit for `epoch` won; it is merged now.
    pub fn handle_commit_accepted(&mut self, epoch: u64, now: Instant) -> Result<(), SessionError> {
        let (ctx, m) = self.member("handle_commit_accepted")?;
        m.handle_commit_accepted(ctx, epoch, now)
    }

    /// `error` `stale_epoch`: our commit lost. It is discarded; the winner
    /// comes through [`handle_commit`](Self::handle_commit), and whatever
    /// it does not cover is committed later.
    pub fn handle_commit_rejected(&mut self, current_epoch: u64) -> Result<(), SessionError> {
        let _ = current_epoch;
        let (ctx, m) = self.member("handle_commit_rejected")?;
        m.handle_commit_rejected(ctx)
    }

    /// `application` from another member.
    pub fn handle_application(
        &mut self,
        from: &ParticipantId,
        message: &[u8],
    ) -> Result<(), SessionError> {
        let (ctx, m) = self.member("handle_application")?;
        m.handle_application(ctx, from, message)
    }

    /// Runs the timers: commits pending changes when their time comes, and
    /// the periodic self-update.
    pub fn tick(&mut self, now: Instant) -> Result<(), SessionError> {
        match &mut self.phase {
            Phase::Member(m) => m.tick(&mut self.ctx, now),
            _ => Ok(()),
        }
    }

    /// When [`tick`](Self::tick) next has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Member(m) => m.poll_timeout(&self.ctx),
            _ => None,
        }
    }

    /// The next message for the server.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.ctx.outputs.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.ctx.events.pop_front()
    }

    /// Lets a knocker in: its Add is committed after the batch window.
    /// `shown` is the fingerprint the person approved; if the knock's
    /// KeyPackage no longer has it, nothing is accepted
    /// ([`SessionError::KnockChanged`]).
    pub fn accept_knock(
        &mut self,
        participant: &ParticipantId,
        shown: &Fingerprint,
        now: Instant,
    ) -> Result<(), SessionError> {
        let (ctx, m) = self.member("accept_knock")?;
        m.accept_knock(ctx, participant, shown, now)
    }

    /// Removes another member from the group: this session commits the
    /// Remove after the batch window. Any member may remove any other.
    pub fn remove_member(
        &mut self,
        participant: &ParticipantId,
        now: Instant,
    ) -> Result<(), SessionError> {
        let (_, m) = self.member("remove_member")?;
        m.remove_member(participant, now)
    }

    /// Refuses a knocker: emits [`Output::RefuseKnock`] for the server.
    pub fn refuse_knock(&mut self, participant: &ParticipantId) -> Result<(), SessionError> {
        let (ctx, m) = self.member("refuse_knock")?;
        m.refuse_knock(ctx, participant)
    }

    /// Sends a chat line to the group.
    pub fn send_chat(&mut self, text: &str) -> Result<(), SessionError> {
        let (ctx, m) = self.member("send_chat")?;
        m.send(ctx, &AppMessage::Chat { text: text.into() })
    }

    /// Sets our display name: sent now if we are a member, and again to
    /// every member who joins later (names travel only inside MLS).
    pub fn set_profile(&mut self, name: &str) -> Result<(), SessionError> {
        let msg = AppMessage::Profile { name: name.into() };
        msg.validate()?;
        self.ctx.profile = Some(name.into());
        if let Phase::Member(m) = &mut self.phase {
            m.send(&mut self.ctx, &msg)?;
        }
        Ok(())
    }

    /// Says our state (microphone, camera, hand, recording) to the group:
    /// now if we are a member, and again to every member who joins later.
    pub fn set_status(&mut self, status: crate::app::Status) -> Result<(), SessionError> {
        self.ctx.status = Some(status);
        if let Phase::Member(m) = &mut self.phase {
            m.send(&mut self.ctx, &AppMessage::Status(status))?;
        }
        Ok(())
    }

    /// Sends a reaction (one of [`crate::app::REACTIONS`]) to the group.
    pub fn send_reaction(&mut self, emoji: &str) -> Result<(), SessionError> {
        let msg = AppMessage::Reaction {
            emoji: emoji.into(),
        };
        msg.validate()?;
        let (ctx, m) = self.member("send_reaction")?;
        m.send(ctx, &msg)
    }

    /// Where the session is.
    pub fn state(&self) -> State {
        match &self.phase {
            Phase::Waiting(_) => State::Waiting,
            Phase::Member(_) => State::Member,
            Phase::Ended(r) => State::Ended(*r),
        }
    }

    /// Our participant id.
    pub fn participant(&self) -> &ParticipantId {
        &self.ctx.participant
    }

    /// Whether this session has the room's SECRET.
    pub fn has_secret(&self) -> bool {
        self.ctx.admission.is_some()
    }

    fn member_ref(&self) -> Option<&Member> {
        match &self.phase {
            Phase::Member(m) => Some(m),
            _ => None,
        }
    }

    /// The current epoch, if a member.
    pub fn epoch(&self) -> Option<u64> {
        self.member_ref().map(Member::epoch)
    }

    /// Our leaf index, if a member.
    pub fn own_leaf(&self) -> Option<u32> {
        self.member_ref().map(Member::own_leaf)
    }

    /// The current epoch's room code, if a member.
    pub fn room_code(&self) -> Option<RoomCode> {
        self.member_ref().map(|m| group::room_code(m.group()))
    }

    /// The current epoch's media keys, if a member (the same as the last
    /// [`Event::EpochKeys`]).
    pub fn epoch_keys(&self) -> Option<EpochKeys> {
        let m = self.member_ref()?;
        group::epoch_keys(m.group(), &self.ctx.provider, m.roster()).ok()
    }

    /// The members of the current epoch, by leaf.
    pub fn members(&self) -> Vec<MemberInfo> {
        self.member_ref()
            .map(|m| m.roster().values().cloned().collect())
            .unwrap_or_default()
    }

    /// Knocks waiting for a decision here.
    pub fn knocks(&self) -> Vec<(ParticipantId, Fingerprint)> {
        self.member_ref()
            .map(|m| m.knocks().map(|(p, f)| (p.clone(), f)).collect())
            .unwrap_or_default()
    }
}
