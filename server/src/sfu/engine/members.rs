//! Members coming and going, and members whose connections fail.

use std::collections::HashMap;
use std::time::Instant;

use rtc::sansio::Protocol;
use sotto_proto::{ErrorCode, ParticipantId, PcKind, RoomName, ServerMessage, TrackSource};
use tracing::{debug, warn};

use super::{
    CONNECT_WITHIN, Engine, FAILED_AFTER, Member, MemberId, PcRef, Peer, RESTART_EVERY, TrackId,
    Transmit,
};
use crate::media::MediaEvent;
use crate::sfu::negotiation::SubNegotiation;

impl Engine {
    pub(super) fn add_member(&mut self, now: Instant, room: RoomName, participant: ParticipantId) {
        if self.ids.contains_key(&(room.clone(), participant.clone())) {
            return;
        }
        let id = MemberId(self.next_member);
        self.next_member = self.next_member.wrapping_add(1);
        debug!(member = id.0, "media member added");
        let others = self.rooms.entry(room.clone()).or_default();
        let others_now = others.clone();
        others.push(id);
        self.ids.insert((room.clone(), participant.clone()), id);
        self.members.insert(
            id,
            Member {
                room,
                participant,
                publisher: None,
                subscriber: None,
                published: Vec::new(),
                opened: Vec::new(),
                subscribed: HashMap::new(),
                negotiation: SubNegotiation::default(),
                sub_sections: 0,
                restarted: None,
            },
        );
        // Subscribe the newcomer to everything already published.
        let mut any = false;
        for other in others_now {
            let tracks: Vec<(TrackId, ParticipantId, TrackSource)> = match self.members.get(&other)
            {
                Some(m) => m
                    .published
                    .iter()
                    .map(|t| (t.id, m.participant.clone(), t.source))
                    .collect(),
                None => continue,
            };
            for (track, publisher, source) in tracks {
                self.subscribe(id, track, publisher, source);
                any = true;
            }
        }
        if any {
            self.renegotiate(now, id);
        }
    }

    pub(super) fn remove_member(&mut self, now: Instant, id: MemberId) {
        let Some(mut member) = self.members.remove(&id) else {
            return;
        };
        debug!(member = id.0, "media member removed");
        self.ids
            .remove(&(member.room.clone(), member.participant.clone()));
        if let Some(list) = self.rooms.get_mut(&member.room) {
            list.retain(|m| *m != id);
            if list.is_empty() {
                self.rooms.remove(&member.room);
            }
        }
        for pc in [PcKind::Pub, PcKind::Sub] {
            self.demux.forget(PcRef { member: id, pc });
            if let Some(peer) = member.peer_mut(pc) {
                // Send what closing queues (DTLS close_notify), then drop it.
                if let Err(err) = peer.pc.close() {
                    debug!(%err, "closing a peer connection");
                }
                while let Some(out) = peer.pc.poll_write() {
                    self.transmits.push_back(Transmit {
                        destination: out.transport.peer_addr,
                        tcp: out.transport.transport_protocol
                            == rtc::shared::TransportProtocol::TCP,
                        payload: out.message,
                    });
                }
            }
        }
        for track in member.subscribed.keys() {
            if let Some(subs) = self.fanout.get_mut(track) {
                subs.retain(|m| *m != id);
            }
        }
        let published: Vec<TrackId> = member.published.iter().map(|t| t.id).collect();
        for track in published {
            self.unpublished(now, track);
        }
    }

    /// A member whose `pub` or `sub` connection failed starts media over
    /// (spec §4.6): it is told `media_failed`, its connections and tracks
    /// are dropped (the others' `sub` lose them), and it is added again at
    /// once, subscribed to everything published, ready for a new `pub`
    /// offer. Its membership is signalling's, and stands.
    pub(super) fn check_failures(&mut self, now: Instant) {
        let failed: Vec<MemberId> = self
            .members
            .iter()
            .filter(|(_, m)| {
                [&m.publisher, &m.subscriber]
                    .into_iter()
                    .flatten()
                    .any(|p| failure_deadline(p).is_some_and(|d| d <= now))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in failed {
            warn!("a member's peer connection failed; its media starts over");
            self.start_media_over(now, id);
        }
    }

    /// The member says its connections failed (`media_restart`): they
    /// start over as if the server had seen it, at most once per
    /// [`RESTART_EVERY`] (each start builds two connections).
    pub(super) fn restart_media(&mut self, now: Instant, id: MemberId) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        if m.restarted.is_some_and(|t| now < t + RESTART_EVERY) {
            debug!(member = id.0, "media_restart ignored: too soon");
            return;
        }
        debug!(
            member = id.0,
            "the member's connections failed; its media starts over"
        );
        self.start_media_over(now, id);
    }

    /// Tells the member `media_failed`, drops its connections and tracks
    /// (the others' `sub` lose them), and adds it again at once,
    /// subscribed to everything published, ready for a new `pub` offer.
    fn start_media_over(&mut self, now: Instant, id: MemberId) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        let (room, participant) = (m.room.clone(), m.participant.clone());
        self.stats.media_failed();
        // Told first: the `sub` offer of the new start comes after.
        self.events.push_back(MediaEvent::Signal {
            room: room.clone(),
            participant: participant.clone(),
            message: ServerMessage::Error {
                code: ErrorCode::MediaFailed,
                message: "your peer connections failed; open new ones".to_owned(),
                in_reply_to: None,
                current_epoch: None,
            },
        });
        self.remove_member(now, id);
        self.add_member(now, room.clone(), participant.clone());
        if let Some(fresh) = self.ids.get(&(room, participant)).copied()
            && let Some(m) = self.members.get_mut(&fresh)
        {
            m.restarted = Some(now);
        }
    }
}

/// When a peer connection counts as failed, if it is in trouble.
pub(super) fn failure_deadline(peer: &Peer) -> Option<Instant> {
    let troubled = peer.troubled_since.map(|since| since + FAILED_AFTER);
    let never = match (peer.ever_connected, peer.started) {
        (false, Some(started)) => Some(started + CONNECT_WITHIN),
        _ => None,
    };
    match (troubled, never) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
