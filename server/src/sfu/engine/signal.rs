//! Media signalling: the member's `pub` offers, the server's `sub` offers
//! and their answers, trickled candidates, and the track bookkeeping that
//! follows from them (spec/protocol.md §4.6, §6).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::rtp_transceiver::RTCRtpTransceiverDirection;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RTCRtpRtxParameters, RtpCodecKind,
};
use sotto_proto::{
    ClientMessage, ErrorCode, ParticipantId, PcKind, PublishedTrack, SdpKind, ServerMessage,
    SubscribedTrack, TrackSource,
};
use tracing::{debug, trace};

use super::{Engine, MemberId, PcRef, Peer, PubTrack, SubState, SubTrack, TrackId, error};
use crate::sfu::keyframe::KeyframeLimiter;
use crate::sfu::negotiation::{Next, check_direction};
use sotto_proto::MediaKind;

use crate::sfu::peer;
use crate::sfu::rewrite::SeqRewriter;
use crate::sfu::sdp_bounds;

/// Why a `pub` offer's `tracks` list was refused.
#[derive(Debug, thiserror::Error)]
enum TracksError {
    #[error("tracks names mid {0:?}, which the offer does not have")]
    UnknownMid(String),
    #[error("source {0:?} is published twice")]
    DuplicateSource(TrackSource),
    #[error("mid {0:?} is named twice")]
    DuplicateMid(String),
    #[error("mid {mid:?} is not the kind of media its source {of:?} is")]
    WrongKind { mid: String, of: TrackSource },
}

impl Engine {
    /// An `sdp` or `ice` message from member `id`.
    pub(super) fn signal(&mut self, now: Instant, id: MemberId, message: ClientMessage) {
        match &message {
            ClientMessage::Sdp {
                pc,
                kind,
                sdp,
                tracks,
            } => {
                if let Err(e) = check_direction(*pc, *kind) {
                    self.send(id, error(ErrorCode::OutOfOrder, &e.to_string(), &message));
                    return;
                }
                let result = match pc {
                    PcKind::Pub => self.publish_offer(now, id, sdp, tracks),
                    PcKind::Sub => self.subscribe_answer(now, id, sdp),
                };
                if let Err((code, text)) = result {
                    debug!(member = id.0, ?code, %text, "refused sdp");
                    self.send(id, error(code, &text, &message));
                }
            }
            ClientMessage::Ice {
                pc,
                candidate,
                sdp_mid,
                sdp_mline_index,
            } => {
                // The server is ICE-lite and learns addresses from the
                // member's checks; trickled candidates only help the agent
                // recognise them. A bad one is ignored, not refused.
                let Some(peer) = self.members.get_mut(&id).and_then(|m| m.peer_mut(*pc)) else {
                    return;
                };
                let init = RTCIceCandidateInit {
                    candidate: candidate.clone(),
                    sdp_mid: sdp_mid.clone(),
                    sdp_mline_index: *sdp_mline_index,
                    ..Default::default()
                };
                if let Err(err) = peer.pc.add_remote_candidate(init) {
                    trace!(%err, "ignored a trickled candidate");
                }
            }
            ClientMessage::MediaRestart {} => self.restart_media(now, id),
            _ => {}
        }
    }

    /// The member's offer on `pub`: answer it, then publish what it added
    /// and unpublish what it dropped.
    fn publish_offer(
        &mut self,
        now: Instant,
        id: MemberId,
        sdp: &str,
        tracks: &[PublishedTrack],
    ) -> Result<(), (ErrorCode, String)> {
        let bad = |e: &dyn std::fmt::Display| (ErrorCode::BadMessage, e.to_string());
        sdp_bounds::check_pub_offer(sdp)
            .map_err(|e| (ErrorCode::MessageTooLarge, e.to_string()))?;
        let offer = RTCSessionDescription::offer(sdp.to_owned()).map_err(|e| bad(&e))?;
        check_tracks(&offer, tracks).map_err(|e| bad(&e))?;
        self.ensure_peer(now, id, PcKind::Pub)
            .map_err(|e| (ErrorCode::Internal, e))?;
        let Some(member) = self.members.get_mut(&id) else {
            return Ok(());
        };
        let Some(peer) = member.publisher.as_mut() else {
            return Ok(());
        };
        peer.pc
            .set_remote_description(now, offer)
            .map_err(|e| bad(&e))?;
        peer.started.get_or_insert(now);
        let answer = peer
            .pc
            .create_answer(None)
            .and_then(|answer| {
                peer.pc
                    .set_local_description(now, answer.clone())
                    .map(|()| answer)
            })
            .map_err(|e| (ErrorCode::Internal, e.to_string()))?;
        trace!(sdp = %answer.sdp, "pub answer");
        self.send(
            id,
            ServerMessage::Sdp {
                pc: PcKind::Pub,
                kind: SdpKind::Answer,
                sdp: answer.sdp,
                tracks: Vec::new(),
            },
        );
        self.queue(PcRef {
            member: id,
            pc: PcKind::Pub,
        });

        // What the offer publishes now, against what was published before.
        let Some(member) = self.members.get_mut(&id) else {
            return Ok(());
        };
        let keep = |t: &PubTrack| {
            tracks
                .iter()
                .any(|n| n.mid == t.mid && n.source == t.source)
        };
        let gone: Vec<TrackId> = member
            .published
            .iter()
            .filter(|t| !keep(t))
            .map(|t| t.id)
            .collect();
        let new: Vec<PublishedTrack> = tracks
            .iter()
            .filter(|n| {
                !member
                    .published
                    .iter()
                    .any(|t| t.mid == n.mid && t.source == n.source)
            })
            .cloned()
            .collect();
        for track in gone {
            self.unpublished(now, track);
        }
        for track in new {
            self.published(now, id, track);
        }
        Ok(())
    }

    /// Member `id` publishes `track`: every other member of its room
    /// subscribes to it.
    fn published(&mut self, now: Instant, id: MemberId, track: PublishedTrack) {
        let Some(member) = self.members.get_mut(&id) else {
            return;
        };
        let track_id = TrackId(self.next_track);
        self.next_track += 1;
        debug!(member = id.0, track = track_id.0, source = ?track.source, "track published");
        let opened = member.opened.iter().find(|o| o.mid == track.mid);
        member.published.push(PubTrack {
            id: track_id,
            rtc_track: opened.map(|o| o.rtc_track.clone()),
            receiver: opened.map(|o| o.receiver),
            ssrc: opened.map(|o| o.ssrc),
            mid: track.mid,
            source: track.source,
            keyframes: KeyframeLimiter::default(),
        });
        let publisher = member.participant.clone();
        let room = member.room.clone();
        self.owners.insert(track_id, id);
        self.fanout.insert(track_id, Vec::new());
        let others: Vec<MemberId> = self
            .rooms
            .get(&room)
            .map(|ids| ids.iter().copied().filter(|m| *m != id).collect())
            .unwrap_or_default();
        for other in others {
            self.subscribe(other, track_id, publisher.clone(), track.source);
            self.renegotiate(now, other);
        }
    }

    /// A published track is gone: take it off every subscriber.
    pub(super) fn unpublished(&mut self, now: Instant, track: TrackId) {
        debug!(track = track.0, "track unpublished");
        if let Some(owner) = self.owners.remove(&track)
            && let Some(m) = self.members.get_mut(&owner)
        {
            m.published.retain(|t| t.id != track);
        }
        for sub in self.fanout.remove(&track).unwrap_or_default() {
            let Some(m) = self.members.get_mut(&sub) else {
                continue;
            };
            let Some(st) = m.subscribed.remove(&track) else {
                continue;
            };
            // Never offered: nothing to take back.
            if let (Some(sender), Some(peer)) = (st.sender, m.subscriber.as_mut()) {
                if let Err(err) = peer.pc.remove_track(sender) {
                    debug!(%err, "removing a forwarded track");
                }
                self.renegotiate(now, sub);
            }
        }
    }

    /// Member `id` will receive `track` from `publisher` at its next offer.
    pub(super) fn subscribe(
        &mut self,
        id: MemberId,
        track: TrackId,
        publisher: ParticipantId,
        source: TrackSource,
    ) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        let (codec, payload_type, kind) = sotto_peer::codec_for(source);
        let clock = codec.clock_rate;
        let used: HashSet<u32> = m
            .subscribed
            .values()
            .flat_map(|s| [Some(s.ssrc), s.rtx_ssrc])
            .flatten()
            .collect();
        let fresh = || loop {
            let ssrc = rand::random::<u32>();
            if ssrc != 0 && !used.contains(&ssrc) {
                break ssrc;
            }
        };
        let ssrc = fresh();
        let rtx_ssrc = (kind == RtpCodecKind::Video).then(|| {
            loop {
                let rtx = fresh();
                if rtx != ssrc {
                    break rtx;
                }
            }
        });
        m.subscribed.insert(
            track,
            SubTrack {
                publisher,
                source,
                kind,
                ssrc,
                rtx_ssrc,
                payload_type,
                sender: None,
                state: SubState::Pending,
                attached: false,
                rewriter: SeqRewriter::new(clock, rand::random(), rand::random()),
            },
        );
        if let Some(subs) = self.fanout.get_mut(&track) {
            subs.push(id);
        }
    }

    /// Something on member `id`'s `sub` changed: offer now, or once the
    /// outstanding answer arrives.
    pub(super) fn renegotiate(&mut self, now: Instant, id: MemberId) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.negotiation.changed() == Next::Offer {
            self.offer(now, id);
        }
    }

    /// Makes and sends member `id`'s next `sub` offer, with every change
    /// queued so far.
    fn offer(&mut self, now: Instant, id: MemberId) {
        let has_tracks = self
            .members
            .get(&id)
            .is_some_and(|m| !m.subscribed.is_empty());
        let has_pc = self
            .members
            .get(&id)
            .is_some_and(|m| m.subscriber.is_some());
        if !has_tracks && !has_pc {
            // Nothing to offer yet: no connection needed.
            if let Some(m) = self.members.get_mut(&id) {
                m.negotiation.offer_failed();
            }
            return;
        }
        if let Err(e) = self.ensure_peer(now, id, PcKind::Sub) {
            debug!(member = id.0, %e, "no sub connection");
            if let Some(m) = self.members.get_mut(&id) {
                m.negotiation.offer_failed();
            }
            return;
        }
        match self.make_offer(now, id) {
            Ok((sdp, tracks)) => {
                trace!(%sdp, "sub offer");
                if let Some(m) = self.members.get_mut(&id) {
                    m.negotiation.offer_sent();
                    m.sub_sections = sdp_bounds::media_sections(&sdp);
                }
                self.send(
                    id,
                    ServerMessage::Sdp {
                        pc: PcKind::Sub,
                        kind: SdpKind::Offer,
                        sdp,
                        tracks,
                    },
                );
                self.queue(PcRef {
                    member: id,
                    pc: PcKind::Sub,
                });
            }
            Err(e) => {
                debug!(member = id.0, %e, "could not make a sub offer");
                if let Some(m) = self.members.get_mut(&id) {
                    m.negotiation.offer_failed();
                }
                self.send(
                    id,
                    ServerMessage::Error {
                        code: ErrorCode::Internal,
                        message: "the server could not offer its media".to_owned(),
                        in_reply_to: None,
                        current_epoch: None,
                    },
                );
            }
        }
    }

    fn make_offer(
        &mut self,
        now: Instant,
        id: MemberId,
    ) -> Result<(String, Vec<SubscribedTrack>), rtc::shared::error::Error> {
        let Some(m) = self.members.get_mut(&id) else {
            return Err(rtc::shared::error::Error::ErrConnectionClosed);
        };
        let Some(peer) = m.subscriber.as_mut() else {
            return Err(rtc::shared::error::Error::ErrConnectionClosed);
        };
        for st in m
            .subscribed
            .values_mut()
            .filter(|s| s.state == SubState::Pending)
        {
            let mut coding = RTCRtpCodingParameters {
                ssrc: Some(st.ssrc),
                ..Default::default()
            };
            coding.rtx = st.rtx_ssrc.map(|ssrc| RTCRtpRtxParameters { ssrc });
            let track = MediaStreamTrack::new(
                st.publisher.as_str().to_owned(),
                st.source.as_str().to_owned(),
                st.source.as_str().to_owned(),
                st.kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: coding,
                    active: true,
                    codec: sotto_peer::codec_for(st.source).0,
                    ..Default::default()
                }],
            );
            // Reuse a section a removed track left inactive, as JSEP
            // does, so churn does not grow the SDP; else add a sendonly one.
            let sender = match peer.pc.add_track(track) {
                Ok(sender) => sender,
                Err(err) => {
                    debug!(%err, "adding a forwarded track");
                    continue;
                }
            };
            set_sendonly(&mut peer.pc, sender);
            st.sender = Some(sender);
            st.state = SubState::Offered;
        }
        let offer = peer.pc.create_offer(None)?;
        peer.pc.set_local_description(now, offer.clone())?;
        let mut tracks = Vec::new();
        for st in m.subscribed.values() {
            let Some(sender) = st.sender else { continue };
            if let Some(mid) = mid_of(&mut peer.pc, sender) {
                tracks.push(SubscribedTrack {
                    mid,
                    participant: st.publisher.clone(),
                    source: st.source,
                });
            }
        }
        tracks.sort_by(|a, b| a.mid.cmp(&b.mid));
        Ok((offer.sdp, tracks))
    }

    /// The member's answer on `sub`.
    fn subscribe_answer(
        &mut self,
        now: Instant,
        id: MemberId,
        sdp: &str,
    ) -> Result<(), (ErrorCode, String)> {
        let Some(m) = self.members.get_mut(&id) else {
            return Ok(());
        };
        // Before anything else: a refused answer leaves the offer
        // outstanding, to be answered again.
        sdp_bounds::check_sub_answer(sdp, m.sub_sections)
            .map_err(|e| (ErrorCode::MessageTooLarge, e.to_string()))?;
        let next = m
            .negotiation
            .answer_received()
            .map_err(|e| (ErrorCode::OutOfOrder, e.to_string()))?;
        let applied = match (
            RTCSessionDescription::answer(sdp.to_owned()),
            m.subscriber.as_mut(),
        ) {
            (Ok(answer), Some(peer)) => {
                let r = peer.pc.set_remote_description(now, answer);
                peer.started.get_or_insert(now);
                r.map_err(|e| e.to_string())
            }
            (Err(e), _) => Err(e.to_string()),
            (_, None) => Err("no sub connection".to_owned()),
        };
        if let Err(text) = applied {
            // The offer stays unanswered in the connection; offer afresh so
            // the member can try again, rather than wedge.
            m.negotiation.offer_sent();
            return Err((ErrorCode::BadMessage, text));
        }
        for st in m
            .subscribed
            .values_mut()
            .filter(|s| s.state == SubState::Offered)
        {
            st.state = SubState::Negotiated;
        }
        self.queue(PcRef {
            member: id,
            pc: PcKind::Sub,
        });
        self.attach(now, id);
        if next == Next::Offer {
            self.offer(now, id);
        }
        Ok(())
    }

    /// Creates member `id`'s `pc` connection if it has none yet.
    fn ensure_peer(&mut self, now: Instant, id: MemberId, pc: PcKind) -> Result<(), String> {
        let candidates = self.candidates.clone();
        let tcp_candidates = self.tcp_candidates.clone();
        let Some(m) = self.members.get_mut(&id) else {
            return Err("no such member".to_owned());
        };
        let slot = match pc {
            PcKind::Pub => &mut m.publisher,
            PcKind::Sub => &mut m.subscriber,
        };
        if slot.is_some() {
            return Ok(());
        }
        let (ufrag, pwd) = peer::ice_credentials();
        let conn = peer::build(
            now,
            &candidates,
            &tcp_candidates,
            &ufrag,
            &pwd,
            Arc::clone(&self.stats),
        )
        .map_err(|e| e.to_string())?;
        *slot = Some(Peer {
            pc: conn,
            connected: false,
            ever_connected: false,
            started: None,
            troubled_since: None,
            deadline: None,
            queued: false,
        });
        self.demux.register(&ufrag, PcRef { member: id, pc });
        Ok(())
    }
}

/// Checks a `pub` offer's `tracks` against its media sections.
fn check_tracks(
    offer: &RTCSessionDescription,
    tracks: &[PublishedTrack],
) -> Result<(), TracksError> {
    let parsed = offer
        .unmarshal()
        .map_err(|_| TracksError::UnknownMid(String::new()))?;
    let mut sources = HashSet::new();
    let mut mids = HashSet::new();
    for t in tracks {
        if !sources.insert(t.source) {
            return Err(TracksError::DuplicateSource(t.source));
        }
        if !mids.insert(t.mid.as_str()) {
            return Err(TracksError::DuplicateMid(t.mid.clone()));
        }
        let section = parsed
            .media_descriptions
            .iter()
            .find(|md| md.attribute("mid") == Some(Some(t.mid.as_str())))
            .ok_or_else(|| TracksError::UnknownMid(t.mid.clone()))?;
        let expected = match t.source.kind() {
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
        };
        if section.media_name.media != expected {
            return Err(TracksError::WrongKind {
                mid: t.mid.clone(),
                of: t.source,
            });
        }
    }
    Ok(())
}

/// The mid of `sender`'s transceiver.
fn mid_of(
    pc: &mut rtc::peer_connection::RTCPeerConnection,
    sender: RTCRtpSenderId,
) -> Option<String> {
    let ids: Vec<_> = pc.get_transceivers().collect();
    ids.into_iter().find_map(|t| {
        let tr = pc.rtp_transceiver(t)?;
        (tr.sender() == Some(sender))
            .then(|| tr.mid().clone())
            .flatten()
    })
}

/// Makes `sender`'s transceiver `sendonly` (`add_track` makes new ones
/// `sendrecv`; spec/protocol.md §6 wants `sendonly`).
fn set_sendonly(pc: &mut rtc::peer_connection::RTCPeerConnection, sender: RTCRtpSenderId) {
    let ids: Vec<_> = pc.get_transceivers().collect();
    for t in ids {
        if let Some(mut tr) = pc.rtp_transceiver(t)
            && tr.sender() == Some(sender)
        {
            tr.set_direction(RTCRtpTransceiverDirection::Sendonly);
        }
    }
}
