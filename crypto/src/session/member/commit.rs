//! The commit policy (`spec/mls-profile.md` §5): who commits which
//! changes when, and building the commit.

use openmls::prelude::{CommitMessageBundle, KeyPackage, LeafNodeIndex, OpenMlsProvider};

use super::super::Ctx;
use super::super::event::{Admission, CommitOut, Output, SessionError};
use super::super::group::{self, MemberInfo, internal};
use super::{InFlight, Member, PendingJoin};
use crate::ParticipantId;
use crate::time::Instant;

impl Member {
    /// Whether this member's leaf holds SECRET as far as ranking goes.
    fn holds_link(&self, m: &MemberInfo) -> bool {
        match m.admission {
            Admission::Link => true,
            Admission::Knock => false,
            Admission::Unverifiable => m.claims_link,
        }
    }

    /// 0 for the designated committer: the lowest leaf holding SECRET
    /// among members that are not leaving; then the other holders, then
    /// members without SECRET, by leaf.
    fn rank(&self) -> u32 {
        let staying = self
            .roster
            .values()
            .filter(|m| !self.leaves.contains(&m.participant));
        let (mut holders, others): (Vec<&MemberInfo>, Vec<&MemberInfo>) =
            staying.partition(|m| self.holds_link(m));
        holders.extend(others);
        holders
            .iter()
            .position(|m| m.leaf == self.own_leaf())
            .map_or(u32::MAX, |p| p as u32)
    }

    /// The joins this member may commit now: tagged ones if it holds
    /// SECRET, knocks it accepted, and none whose signature key is still
    /// in the tree (RFC 9420 §7.3: signature keys are unique; the old leaf
    /// of a reconnecting identity must go first).
    fn committable_joins(&self, ctx: &Ctx) -> Vec<(&ParticipantId, &PendingJoin)> {
        self.joins
            .iter()
            .filter(|(_, j)| j.knock || ctx.admission.is_some())
            .filter(|(_, j)| {
                let key = j.key_package.leaf_node().signature_key().as_slice();
                !self.roster.values().any(|m| m.signature_key == key)
            })
            .collect()
    }

    fn committable_leaves(&self) -> Vec<u32> {
        self.roster
            .values()
            .filter(|m| self.leaves.contains(&m.participant) && m.leaf != self.own_leaf())
            .map(|m| m.leaf)
            .collect()
    }

    /// When this member commits the pending changes, if it has any.
    fn commit_deadline(&self, ctx: &Ctx) -> Option<Instant> {
        if self.in_flight.is_some() || self.waiting_for_winner() {
            return None;
        }
        let since = self.pending_since?;
        let joins = self.committable_joins(ctx);
        if joins.is_empty() && self.committable_leaves().is_empty() {
            return None;
        }
        let rank = self.rank();
        let c = &ctx.config;
        // Knocks it accepted and removals it was asked for are this
        // member's own decisions: it commits them itself, at once.
        let own_decision = joins.iter().any(|(_, j)| j.knock)
            || self.committable_leaves().iter().any(|l| {
                self.roster
                    .get(l)
                    .is_some_and(|m| self.removing.contains(&m.participant))
            });
        if rank == 0 || own_decision {
            Some(since + c.batch_window)
        } else {
            let step = c.fallback_step.saturating_mul(rank.min(1000));
            Some(since + c.fallback_delay + step)
        }
    }

    pub(crate) fn poll_timeout(&self, ctx: &Ctx) -> Option<Instant> {
        let update = (self.in_flight.is_none() && !self.waiting_for_winner())
            .then_some(self.next_self_update);
        let verdict = self
            .in_flight
            .as_ref()
            .map(|f| f.sent + ctx.config.verdict_timeout);
        [self.commit_deadline(ctx), update, verdict]
            .into_iter()
            .flatten()
            .min()
    }

    pub(crate) fn tick(&mut self, ctx: &mut Ctx, now: Instant) -> Result<(), SessionError> {
        if let Some(f) = &self.in_flight
            && f.sent + ctx.config.verdict_timeout <= now
        {
            // No verdict came (a server that lost it, or never means to
            // answer): give the commit up, as if it lost, so that the
            // changes it carried are committed again rather than wait for
            // ever. Should it have won after all, its commit reaches the
            // others but not us, and the next commit shows us out of step.
            self.group
                .clear_pending_commit(ctx.provider.storage())
                .map_err(internal)?;
            self.in_flight = None;
        }
        if self.in_flight.is_some() || self.waiting_for_winner() {
            return Ok(());
        }
        let due =
            self.commit_deadline(ctx).is_some_and(|d| d <= now) || self.next_self_update <= now;
        if due {
            self.commit(ctx, now)?;
        }
        Ok(())
    }

    /// Commits every committable change with a fresh path (RFC 9420 §12.4:
    /// a full commit also updates our own leaf, which is the self-update).
    fn commit(&mut self, ctx: &mut Ctx, now: Instant) -> Result<(), SessionError> {
        let mut joins: Vec<(ParticipantId, KeyPackage)> = self
            .committable_joins(ctx)
            .into_iter()
            .map(|(p, j)| (p.clone(), j.key_package.clone()))
            .collect();
        let leaves = self.committable_leaves();
        let bundle = match self.build_commit(ctx, &joins, &leaves) {
            Ok(b) => b,
            Err(_) if !joins.is_empty() => {
                // openmls refused a KeyPackage that passed our checks (the
                // uniqueness checks of RFC 9420 §7.3 against the tree, say
                // a copied encryption key). Find it by trying each join
                // alone, drop it, and commit the rest: one bad joiner must
                // not hold up the others. Rare, so the cost is fine.
                joins.retain(|j| {
                    let ok = self.build_commit(ctx, std::slice::from_ref(j), &[]).is_ok();
                    let _ = self.group.clear_pending_commit(ctx.provider.storage());
                    if !ok {
                        self.joins.remove(&j.0);
                    }
                    ok
                });
                self.build_commit(ctx, &joins, &leaves)?
            }
            Err(e) => return Err(e),
        };
        let (commit, welcome, _) = bundle.into_messages();
        let added = if welcome.is_some() {
            joins.into_iter().map(|(p, _)| p).collect()
        } else {
            Vec::new()
        };
        let epoch = self.epoch();
        ctx.outputs.push_back(Output::Commit(CommitOut {
            epoch,
            commit: group::to_bytes(&commit)?,
            welcome: welcome.as_ref().map(group::to_bytes).transpose()?,
            welcome_to: added,
        }));
        // A commit that loses is retried after the winner; the self-update
        // timer restarts only when one of ours is accepted.
        self.in_flight = Some(InFlight { epoch, sent: now });
        Ok(())
    }

    fn build_commit(
        &mut self,
        ctx: &Ctx,
        joins: &[(ParticipantId, KeyPackage)],
        leaves: &[u32],
    ) -> Result<CommitMessageBundle, SessionError> {
        self.group
            .commit_builder()
            .propose_adds(joins.iter().map(|(_, kp)| kp.clone()))
            .propose_removals(leaves.iter().map(|l| LeafNodeIndex::new(*l)))
            .force_self_update(true)
            .load_psks(ctx.provider.storage())
            .map_err(internal)?
            .build(
                ctx.provider.rand(),
                ctx.provider.crypto(),
                &ctx.signer,
                |_| true,
            )
            .map_err(internal)?
            .stage_commit(&ctx.provider)
            .map_err(internal)
    }
}
