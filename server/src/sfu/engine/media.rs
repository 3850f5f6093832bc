//! The media path: RTP from a publisher to its subscribers, and keyframe
//! requests back upstream (spec/protocol.md §6).
//!
//! Forwarding rewrites the SSRC, payload type, sequence number and
//! timestamp of each copy, drops header extensions and CSRCs (the server
//! forwards no extension, §6), and shares the payload bytes, untouched,
//! among all copies: `Bytes` is reference counted, so a copy per subscriber
//! costs no allocation here.

use std::time::Instant;

use rtc::peer_connection::event::RTCTrackEventInit;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::sansio::Protocol;
use sotto_proto::PcKind;
use tracing::{debug, trace};

use super::{Engine, MemberId, Opened, PcRef, SubState, TrackId};

/// Size of an RTP fixed header: what a forwarded packet is counted with,
/// besides its payload.
const RTP_HEADER: usize = 12;

impl Engine {
    /// One RTP packet from member `publisher`'s `rtc` track `track`.
    pub(super) fn forward(
        &mut self,
        now: Instant,
        publisher: MemberId,
        track: &str,
        packet: rtp::Packet,
    ) {
        let Some(m) = self.members.get_mut(&publisher) else {
            return;
        };
        let Some(pub_track) = m
            .published
            .iter_mut()
            .find(|t| t.rtc_track.as_deref() == Some(track))
        else {
            trace!("RTP for a track that is not published");
            self.stats.dropped();
            return;
        };
        pub_track.ssrc = Some(packet.header.ssrc);
        let id = pub_track.id;
        #[cfg(feature = "test-tamper")]
        if let Some(tamper) = &self.tamper {
            let source = pub_track.source;
            let original = super::super::tamper::RtpPacket {
                ssrc: packet.header.ssrc,
                sequence_number: packet.header.sequence_number,
                timestamp: packet.header.timestamp,
                marker: packet.header.marker,
                payload: packet.payload.to_vec(),
            };
            let instead = tamper(&m.participant, source, original);
            for p in instead {
                let packet = rtp::Packet {
                    header: rtp::header::Header {
                        version: 2,
                        marker: p.marker,
                        payload_type: packet.header.payload_type,
                        sequence_number: p.sequence_number,
                        timestamp: p.timestamp,
                        ssrc: p.ssrc,
                        ..Default::default()
                    },
                    payload: p.payload.into(),
                };
                self.fan_out(now, id, &packet);
            }
            return;
        }
        self.fan_out(now, id, &packet);
    }

    /// Sends a copy of `packet` of track `id` to each of its subscribers.
    fn fan_out(&mut self, now: Instant, id: TrackId, packet: &rtp::Packet) {
        let Some(subscribers) = self.fanout.get(&id) else {
            self.stats.dropped();
            return;
        };
        let size = RTP_HEADER + packet.payload.len();
        let mut forwarded = false;
        for sub in subscribers {
            let Some(m) = self.members.get_mut(sub) else {
                continue;
            };
            let Some(st) = m.subscribed.get_mut(&id) else {
                continue;
            };
            let Some(peer) = m.subscriber.as_mut() else {
                continue;
            };
            if st.state != SubState::Negotiated || !peer.connected {
                continue;
            }
            let h = &packet.header;
            let out = st
                .rewriter
                .rewrite(now, h.ssrc, h.sequence_number, h.timestamp);
            let copy = rtp::Packet {
                header: rtp::header::Header {
                    version: 2,
                    marker: h.marker,
                    payload_type: st.payload_type,
                    sequence_number: out.sequence_number,
                    timestamp: out.timestamp,
                    ssrc: st.ssrc,
                    ..Default::default()
                },
                payload: packet.payload.clone(),
            };
            // `handle_write` ignores the track id; an empty one costs nothing.
            match peer.pc.handle_write(TaggedRTCMessage {
                now,
                message: RTCMessage::RtpPacket(String::new(), copy),
            }) {
                Ok(()) => {
                    forwarded = true;
                    self.stats.forwarded(size);
                    if !peer.queued {
                        peer.queued = true;
                        self.queue.push(PcRef {
                            member: *sub,
                            pc: PcKind::Sub,
                        });
                    }
                }
                Err(err) => {
                    trace!(%err, "a subscriber's connection refused a packet");
                }
            }
        }
        if !forwarded {
            self.stats.dropped();
        }
    }

    /// RTCP from member `subscriber`'s `sub` connection: keyframe requests
    /// go upstream to the publisher of the track they name.
    pub(super) fn keyframe_requests(
        &mut self,
        now: Instant,
        subscriber: MemberId,
        packets: &[Box<dyn rtc::rtcp::Packet>],
    ) {
        let mut wanted = Vec::new();
        if let Some(m) = self.members.get(&subscriber) {
            for p in packets {
                let any = p.as_any();
                let ssrcs: Vec<u32> = if let Some(pli) = any.downcast_ref::<PictureLossIndication>()
                {
                    vec![pli.media_ssrc]
                } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
                    fir.fir
                        .iter()
                        .map(|e| e.ssrc)
                        .chain([fir.media_ssrc])
                        .collect()
                } else {
                    continue;
                };
                for (track, st) in &m.subscribed {
                    if ssrcs.contains(&st.ssrc) && !wanted.contains(track) {
                        wanted.push(*track);
                    }
                }
            }
        }
        for track in wanted {
            trace!(track = track.0, "subscriber asked for a keyframe");
            self.request_keyframe(now, track);
        }
    }

    /// A new subscriber attaches to a video track when its `sub` connection
    /// is up and the track negotiated: the publisher is asked for a keyframe
    /// so that the subscriber can start decoding.
    pub(super) fn attach(&mut self, now: Instant, subscriber: MemberId) {
        let Some(m) = self.members.get_mut(&subscriber) else {
            return;
        };
        if !m.subscriber.as_ref().is_some_and(|p| p.connected) {
            return;
        }
        let mut attached = Vec::new();
        for (track, st) in &mut m.subscribed {
            if st.state == SubState::Negotiated && !st.attached {
                st.attached = true;
                if st.kind == RtpCodecKind::Video {
                    attached.push(*track);
                }
            }
        }
        for track in attached {
            debug!(track = track.0, "subscriber attached");
            self.request_keyframe(now, track);
        }
    }

    /// Asks the publisher of `track` for a keyframe, rate limited.
    pub(super) fn request_keyframe(&mut self, now: Instant, track: TrackId) {
        let Some(owner) = self.owners.get(&track).copied() else {
            return;
        };
        let Some(m) = self.members.get_mut(&owner) else {
            return;
        };
        let Some(t) = m.published.iter_mut().find(|t| t.id == track) else {
            return;
        };
        // No slot of the rate limit for a request `send_pli` could not send.
        if t.receiver.is_none() || t.ssrc.is_none() {
            return;
        }
        if t.keyframes.request(now) {
            let (receiver, ssrc) = (t.receiver, t.ssrc);
            self.send_pli(now, owner, receiver, ssrc);
        }
    }

    /// Sends the keyframe requests deferred by rate limiting that are due.
    pub(super) fn keyframe_timeouts(&mut self, now: Instant) {
        let mut due = Vec::new();
        for (&id, m) in &mut self.members {
            for t in &mut m.published {
                if t.keyframes.handle_timeout(now) {
                    due.push((id, t.receiver, t.ssrc));
                }
            }
        }
        for (id, receiver, ssrc) in due {
            self.send_pli(now, id, receiver, ssrc);
        }
    }

    fn send_pli(
        &mut self,
        now: Instant,
        publisher: MemberId,
        receiver: Option<rtc::rtp_transceiver::RTCRtpReceiverId>,
        ssrc: Option<u32>,
    ) {
        // Before the first packet there is nothing to name, and the
        // publisher starts with a keyframe anyway.
        let (Some(receiver), Some(media_ssrc)) = (receiver, ssrc) else {
            return;
        };
        let Some(peer) = self
            .members
            .get_mut(&publisher)
            .and_then(|m| m.publisher.as_mut())
        else {
            return;
        };
        let Some(mut rx) = peer.pc.rtp_receiver(receiver) else {
            return;
        };
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc,
        };
        match rx.write_rtcp(now, vec![Box::new(pli)]) {
            Ok(()) => {
                trace!("PLI sent upstream");
                self.queue(PcRef {
                    member: publisher,
                    pc: PcKind::Pub,
                });
            }
            Err(err) => debug!(%err, "could not send a PLI"),
        }
    }

    /// Media started on one of member `publisher`'s transceivers: tie it to
    /// the published track of that mid.
    pub(super) fn track_opened(&mut self, publisher: MemberId, init: RTCTrackEventInit) {
        let Some(m) = self.members.get_mut(&publisher) else {
            return;
        };
        let Some(peer) = m.publisher.as_mut() else {
            return;
        };
        let ids: Vec<_> = peer.pc.get_transceivers().collect();
        let mid = ids.into_iter().find_map(|t| {
            let tr = peer.pc.rtp_transceiver(t)?;
            (tr.receiver() == Some(init.receiver_id))
                .then(|| tr.mid().clone())
                .flatten()
        });
        let Some(mid) = mid else {
            return;
        };
        if let Some(t) = m.published.iter_mut().find(|t| t.mid == mid) {
            debug!(track = t.id.0, "publisher's media started");
            t.rtc_track = Some(init.track_id.clone());
            t.receiver = Some(init.receiver_id);
            t.ssrc = Some(init.ssrc);
        }
        m.opened.retain(|o| o.mid != mid);
        m.opened.push(Opened {
            mid,
            rtc_track: init.track_id,
            receiver: init.receiver_id,
            ssrc: init.ssrc,
        });
    }
}
