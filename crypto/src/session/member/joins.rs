//! Who comes in and who goes: join requests, knocks and their decisions,
//! departures, and removals a member asks for (spec/protocol.md §4.1–4.4,
//! mls-profile.md §3–5).
//!
//! One participant id, one KeyPackage: the server relays a joiner's
//! KeyPackage once (spec §3 `join_request`). A second, different one for
//! an id whose join or knock is pending can only come from a server that
//! tries to swap the key a member is about to approve (or approved), so
//! both are dropped and the id is refused from then on
//! ([`Event::KeyPackageConflict`]). A knock is accepted by the fingerprint
//! the person saw, and the leaf our commit adds is checked against it.

use openmls::prelude::OpenMlsProvider;

use super::super::Ctx;
use super::super::event::{Event, Output, SessionError};
use super::super::group::{self, internal};
use super::{Member, PendingJoin};
use crate::ParticipantId;
use crate::time::Instant;
use crate::verify::Fingerprint;

/// Most participant ids remembered as conflicted (a server could make up
/// endless ones; each costs a few bytes).
const CONFLICTED_KEPT: usize = 1024;

impl Member {
    pub(crate) fn handle_join_request(
        &mut self,
        ctx: &mut Ctx,
        participant: ParticipantId,
        bytes: &[u8],
        now: Instant,
    ) -> Result<(), SessionError> {
        let bad = |reason: &str| SessionError::BadKeyPackage {
            participant: participant.clone(),
            reason: reason.into(),
        };
        if self.conflicted.contains(&participant) {
            return Err(bad("a second KeyPackage was relayed for this participant"));
        }
        let kp = group::check_key_package(&ctx.provider, &participant, bytes)?;
        if self.member_by_participant(&participant).is_some() {
            return Err(bad("already a member"));
        }
        if self.departed.contains(&participant) {
            return Err(bad("announced as gone"));
        }
        let kp_ref = kp.hash_ref(ctx.provider.crypto()).map_err(internal)?;
        if self.used_key_packages.contains(kp_ref.as_slice()) {
            return Err(bad("KeyPackage already used"));
        }
        let pending = self
            .joins
            .get(&participant)
            .map(|j| &j.key_package)
            .or_else(|| self.knocks.get(&participant));
        if let Some(old) = pending {
            if old == &kp {
                // The very same KeyPackage again: nothing new to decide.
                return Ok(());
            }
            self.conflict(ctx, participant.clone());
            return Err(SessionError::KeyPackageConflict(participant));
        }
        let leaf = kp.leaf_node();
        let tagged = ctx.admission.as_ref().is_some_and(|k| {
            group::leaf_tag(leaf)
                .is_some_and(|tag| k.verify_admission_tag(leaf.signature_key().as_slice(), tag))
        });
        if tagged {
            self.joins.insert(
                participant,
                PendingJoin {
                    key_package: kp,
                    knock: false,
                },
            );
            self.pending_since.get_or_insert(now);
        } else {
            let fingerprint = Fingerprint::of(leaf.signature_key().as_slice());
            self.knocks.insert(participant.clone(), kp);
            ctx.events.push_back(Event::Knock {
                participant,
                fingerprint,
            });
        }
        Ok(())
    }

    /// Drops everything pending for `participant` and refuses it from now
    /// on: the server relayed two KeyPackages for it.
    pub(super) fn conflict(&mut self, ctx: &mut Ctx, participant: ParticipantId) {
        self.joins.remove(&participant);
        if self.knocks.remove(&participant).is_some() {
            ctx.events.push_back(Event::KnockClosed {
                participant: participant.clone(),
            });
        }
        if self.conflicted.len() < CONFLICTED_KEPT {
            self.conflicted.insert(participant.clone());
        }
        ctx.events
            .push_back(Event::KeyPackageConflict { participant });
    }

    pub(crate) fn handle_departure(
        &mut self,
        ctx: &mut Ctx,
        participant: ParticipantId,
        now: Instant,
    ) {
        self.joins.remove(&participant);
        if self.knocks.remove(&participant).is_some() {
            ctx.events.push_back(Event::KnockClosed {
                participant: participant.clone(),
            });
        }
        if self.member_by_participant(&participant).is_some() {
            self.leaves.insert(participant.clone());
            self.pending_since.get_or_insert(now);
        }
        self.departed.insert(participant);
    }

    /// Lets a knocker in, if its KeyPackage is still the one whose
    /// fingerprint the person saw (`shown`).
    pub(crate) fn accept_knock(
        &mut self,
        ctx: &mut Ctx,
        participant: &ParticipantId,
        shown: &Fingerprint,
        now: Instant,
    ) -> Result<(), SessionError> {
        let kp = self
            .knocks
            .get(participant)
            .ok_or_else(|| SessionError::UnknownKnock(participant.clone()))?;
        let actual = Fingerprint::of(kp.leaf_node().signature_key().as_slice());
        if &actual != shown {
            return Err(SessionError::KnockChanged {
                participant: participant.clone(),
            });
        }
        let Some(kp) = self.knocks.remove(participant) else {
            return Err(SessionError::UnknownKnock(participant.clone()));
        };
        self.joins.insert(
            participant.clone(),
            PendingJoin {
                key_package: kp,
                knock: true,
            },
        );
        self.pending_since.get_or_insert(now);
        ctx.events.push_back(Event::KnockClosed {
            participant: participant.clone(),
        });
        Ok(())
    }

    pub(crate) fn refuse_knock(
        &mut self,
        ctx: &mut Ctx,
        participant: &ParticipantId,
    ) -> Result<(), SessionError> {
        self.knocks
            .remove(participant)
            .ok_or_else(|| SessionError::UnknownKnock(participant.clone()))?;
        ctx.outputs
            .push_back(Output::RefuseKnock(participant.clone()));
        ctx.events.push_back(Event::KnockClosed {
            participant: participant.clone(),
        });
        Ok(())
    }

    /// Removes another member from the group: this member commits the
    /// Remove after the batch window (any member may remove any other,
    /// spec/mls-profile.md §5).
    pub(crate) fn remove_member(
        &mut self,
        participant: &ParticipantId,
        now: Instant,
    ) -> Result<(), SessionError> {
        if participant == &self.own_participant() {
            return Err(SessionError::NotAMember(participant.clone()));
        }
        if self.member_by_participant(participant).is_none() {
            return Err(SessionError::NotAMember(participant.clone()));
        }
        self.leaves.insert(participant.clone());
        self.removing.insert(participant.clone());
        self.pending_since.get_or_insert(now);
        Ok(())
    }

    /// The signature key of every knocker this member approved, as it
    /// approved it.
    pub(super) fn approved_keys(&self) -> Vec<(ParticipantId, Vec<u8>)> {
        self.joins
            .iter()
            .filter(|(_, j)| j.knock)
            .map(|(p, j)| {
                let key = j.key_package.leaf_node().signature_key().as_slice();
                (p.clone(), key.to_vec())
            })
            .collect()
    }

    /// After our commit is merged: every knocker it added holds the key
    /// that was approved. A leaf with another key (which the checks above
    /// make impossible) is reported and removed again.
    pub(super) fn check_approved(
        &mut self,
        ctx: &mut Ctx,
        approved: Vec<(ParticipantId, Vec<u8>)>,
        now: Instant,
    ) {
        for (p, key) in approved {
            let wrong = self
                .member_by_participant(&p)
                .is_some_and(|m| m.signature_key != key);
            if wrong {
                self.conflict(ctx, p.clone());
                self.leaves.insert(p.clone());
                self.removing.insert(p);
                self.pending_since.get_or_insert(now);
            }
        }
    }
}
