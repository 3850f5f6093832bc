//! The media half of a connection: our `pub` and `sub` peer connections.

use std::sync::Arc;

use rtc::peer_connection::transport::RTCIceCandidateInit;
use sotto_proto::{ClientMessage, PcKind, SdpKind, SubscribedTrack};
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::TrackRemote;

use crate::keys::FrameCrypto;
use crate::peer::{PeerError, PeerEvent, PeerSetup};
use crate::publish::{Outgoing, Publisher, SentFrame};
use crate::subscribe::{Receiving, Subscriber};

pub(super) struct Call {
    setup: PeerSetup,
    outgoing: Vec<Outgoing>,
    crypto: Arc<dyn FrameCrypto>,
    receiving: Receiving,
    peer_tx: mpsc::UnboundedSender<PeerEvent>,
    sent_tap: Option<mpsc::UnboundedSender<SentFrame>>,
    publisher: Option<Publisher>,
    subscriber: Option<Subscriber>,
}

impl Call {
    pub(super) fn new(
        setup: PeerSetup,
        outgoing: Vec<Outgoing>,
        crypto: Arc<dyn FrameCrypto>,
        receiving: Receiving,
        peer_tx: mpsc::UnboundedSender<PeerEvent>,
        sent_tap: Option<mpsc::UnboundedSender<SentFrame>>,
    ) -> Self {
        Call {
            setup,
            outgoing,
            crypto,
            receiving,
            peer_tx,
            sent_tap,
            publisher: None,
            subscriber: None,
        }
    }

    /// Builds the `pub` connection and returns its offer, if we send
    /// anything at all.
    pub(super) async fn publish(&mut self) -> Result<Option<ClientMessage>, PeerError> {
        if self.outgoing.is_empty() || self.publisher.is_some() {
            return Ok(None);
        }
        let publisher =
            Publisher::new(&self.setup, self.peer_tx.clone(), self.outgoing.clone()).await?;
        let (sdp, tracks) = publisher.offer().await?;
        self.publisher = Some(publisher);
        Ok(Some(ClientMessage::Sdp {
            pc: PcKind::Pub,
            kind: SdpKind::Offer,
            sdp,
            tracks,
        }))
    }

    /// The server's answer on `pub`: media starts flowing.
    pub(super) async fn on_answer(&mut self, sdp: String) -> Result<(), PeerError> {
        if let Some(p) = &mut self.publisher {
            p.apply_answer(sdp).await?;
            p.start(Arc::clone(&self.crypto), self.sent_tap.clone())
                .await?;
        }
        Ok(())
    }

    /// The server's offer on `sub`; returns our answer.
    pub(super) async fn on_offer(
        &mut self,
        sdp: &str,
        tracks: Vec<SubscribedTrack>,
    ) -> Result<ClientMessage, PeerError> {
        let subscriber = match &mut self.subscriber {
            Some(s) => s,
            None => self.subscriber.insert(
                Subscriber::new(&self.setup, self.peer_tx.clone(), self.receiving.clone()).await?,
            ),
        };
        let answer = subscriber.handle_offer(sdp, tracks).await?;
        Ok(ClientMessage::Sdp {
            pc: PcKind::Sub,
            kind: SdpKind::Answer,
            sdp: answer,
            tracks: Vec::new(),
        })
    }

    /// A remote candidate for `pc`.
    pub(super) async fn add_candidate(
        &mut self,
        pc: PcKind,
        candidate: RTCIceCandidateInit,
    ) -> Result<(), PeerError> {
        match pc {
            PcKind::Pub => match &self.publisher {
                Some(p) => p.add_candidate(candidate).await,
                None => Ok(()),
            },
            PcKind::Sub => match &self.subscriber {
                Some(s) => s.add_candidate(candidate).await,
                None => Ok(()),
            },
        }
    }

    /// A track arrived on `sub`.
    pub(super) async fn on_track(&mut self, track: Arc<dyn TrackRemote>) {
        if let Some(s) = &mut self.subscriber {
            s.receive(track).await;
        }
    }

    /// Closes both connections (finishing the recordings).
    pub(super) async fn close(&mut self) {
        if let Some(p) = self.publisher.take() {
            p.close().await;
        }
        if let Some(s) = self.subscriber.take() {
            s.close().await;
        }
    }
}
