//! Participants of sotto-server: the signalling of spec/protocol.md over
//! its WebSocket, with an MLS-less admission. The server relays MLS
//! without reading it (§4.3), so the creator "commits" opaque bytes with
//! a Welcome for every waiting joiner, which makes them members.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_tungstenite::tungstenite::Message;
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};
use webrtc::runtime::Runtime;

use crate::media::{Kind, Recorder};
use crate::peer::{self, Handler, LocalTrack};

/// Where sotto-server and its participants are.
const LOOPBACK: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// Errors the server sent, counted for the report.
pub static SERVER_ERRORS: AtomicU64 = AtomicU64::new(0);

/// One participant of a sotto room.
pub struct Participant {
    /// Index in the workload.
    pub index: u32,
    out: UnboundedSender<String>,
    member: Arc<AtomicBool>,
    pub_pc: Option<Arc<dyn PeerConnection>>,
    /// Its published tracks.
    pub tracks: Vec<LocalTrack>,
    sub_pc: SlotRef,
    pub_slot: SlotRef,
    task: tokio::task::JoinHandle<()>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Participant {
    /// Connects to `ws_url` and joins `room`; the first to join creates it
    /// and admits everyone after.
    pub async fn join(
        ws_url: &str,
        room: &str,
        index: u32,
        recorder: Arc<Recorder>,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Participant> {
        let (ws, _) = tokio_tungstenite::connect_async(ws_url)
            .await
            .context("connecting the signalling WebSocket")?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = unbounded_channel::<String>();
        let member = Arc::new(AtomicBool::new(false));
        let sub_pc: SlotRef = Arc::default();
        let pub_slot: SlotRef = Arc::default();
        out.send(json!({"v": 1, "type": "join", "room": room}).to_string())
            .ok();
        let task = {
            let out = out.clone();
            let member = member.clone();
            let sub_pc = sub_pc.clone();
            let pub_slot = pub_slot.clone();
            tokio::spawn(async move {
                let mut creator = false;
                let mut epoch: u64 = 0;
                let mut awaiting = false;
                let mut waiting: VecDeque<String> = VecDeque::new();
                loop {
                    tokio::select! {
                        text = out_rx.recv() => {
                            let Some(text) = text else { break };
                            if sink.send(Message::text(text)).await.is_err() { break; }
                        }
                        msg = stream.next() => {
                            let Some(Ok(msg)) = msg else { break };
                            let Message::Text(text) = msg else { continue };
                            let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                            match v["type"].as_str().unwrap_or("") {
                                "joined" => {
                                    if v["role"] == "creator" {
                                        creator = true;
                                        member.store(true, Ordering::SeqCst);
                                    } else {
                                        let _ = out.send(json!({"v":1,"type":"key_package","key_package": b64(b"bench key package")}).to_string());
                                    }
                                }
                                "welcome" | "become_creator" => {
                                    if v["type"] == "become_creator" { creator = true; epoch = 0; }
                                    member.store(true, Ordering::SeqCst);
                                }
                                "join_request" if creator => {
                                    if let Some(p) = v["participant"].as_str() { waiting.push_back(p.to_owned()); }
                                }
                                "commit_accepted" => { epoch = v["epoch"].as_u64().unwrap_or(epoch) + 1; awaiting = false; }
                                "error" => {
                                    SERVER_ERRORS.fetch_add(1, Ordering::Relaxed);
                                    if v["code"] == "stale_epoch" {
                                        epoch = v["current_epoch"].as_u64().unwrap_or(epoch);
                                        awaiting = false;
                                    }
                                    eprintln!("sotto-server error to participant {index}: {}", v["message"]);
                                }
                                "sdp" => {
                                    if let Err(e) = on_sdp(&v, &out, &pub_slot, &sub_pc, index, &recorder, &runtime).await {
                                        eprintln!("participant {index}: {e:#}");
                                    }
                                }
                                _ => {}
                            }
                            if creator && !awaiting && !waiting.is_empty() {
                                let to: Vec<String> = waiting.drain(..).collect();
                                awaiting = true;
                                let _ = out.send(json!({"v":1,"type":"commit","epoch":epoch,"commit":b64(b"bench commit"),"welcome":b64(b"bench welcome"),"welcome_to":to}).to_string());
                            }
                        }
                    }
                }
            })
        };
        Ok(Participant {
            index,
            out,
            member,
            pub_pc: None,
            tracks: Vec::new(),
            sub_pc,
            pub_slot,
            task,
        })
    }

    /// Whether the server made it a member.
    pub fn is_member(&self) -> bool {
        self.member.load(Ordering::SeqCst)
    }

    /// Opens `pub` with a track per kind and offers it.
    pub async fn publish(
        &mut self,
        kinds: &[Kind],
        recorder: Arc<Recorder>,
        runtime: Arc<dyn Runtime>,
    ) -> Result<()> {
        if !self.is_member() {
            bail!("not a member");
        }
        let handler = Arc::new(Handler {
            subscriber: self.index,
            recorder,
            runtime: runtime.clone(),
            connected: Arc::default(),
            candidates: None,
        });
        let pc = peer::build_pc(runtime.clone(), handler, LOOPBACK).await?;
        let (sdp, tracks) = peer::add_tracks(&pc, self.index as u16, kinds).await?;
        let list: Vec<Value> = tracks
            .iter()
            .map(|(t, mid)| {
                json!({"mid": mid, "source": match t.kind { Kind::Audio => "mic", Kind::Video => "camera" }})
            })
            .collect();
        self.pub_pc = Some(pc.clone());
        // The answer comes back through the signalling task.
        *self.pub_slot.lock().await = Some(pc);
        self.out
            .send(
                json!({"v":1,"type":"sdp","pc":"pub","kind":"offer","sdp":sdp,"tracks":list})
                    .to_string(),
            )
            .ok();
        for (t, _) in tracks {
            peer::watch_keyframe_requests(&runtime, &t);
            self.tracks.push(t);
        }
        Ok(())
    }

    /// Hangs up.
    pub async fn close(self) {
        let _ = self.out.send(json!({"v":1,"type":"leave"}).to_string());
        if let Some(pc) = &self.pub_pc {
            let _ = pc.close().await;
        }
        if let Some(pc) = self.sub_pc.lock().await.take() {
            let _ = pc.close().await;
        }
        self.task.abort();
    }
}

/// A peer connection the signalling task and the harness share.
type SlotRef = Arc<tokio::sync::Mutex<Option<Arc<dyn PeerConnection>>>>;

async fn on_sdp(
    v: &Value,
    out: &UnboundedSender<String>,
    pub_slot: &SlotRef,
    sub_pc: &SlotRef,
    index: u32,
    recorder: &Arc<Recorder>,
    runtime: &Arc<dyn Runtime>,
) -> Result<()> {
    let sdp = v["sdp"].as_str().context("sdp without sdp")?.to_owned();
    match (v["pc"].as_str(), v["kind"].as_str()) {
        (Some("pub"), Some("answer")) => {
            let pc = pub_slot
                .lock()
                .await
                .clone()
                .context("an answer for no pub")?;
            pc.set_remote_description(RTCSessionDescription::answer(sdp)?)
                .await?;
        }
        (Some("sub"), Some("offer")) => {
            let mut slot = sub_pc.lock().await;
            let pc = match &*slot {
                Some(pc) => pc.clone(),
                None => {
                    let handler = Arc::new(Handler {
                        subscriber: index,
                        recorder: recorder.clone(),
                        runtime: runtime.clone(),
                        connected: Arc::default(),
                        candidates: None,
                    });
                    let pc = peer::build_pc(runtime.clone(), handler, LOOPBACK).await?;
                    *slot = Some(pc.clone());
                    pc
                }
            };
            pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
                .await?;
            let answer = pc.create_answer(None).await?;
            pc.set_local_description(answer).await?;
            let local = pc.local_description().await.context("no answer")?;
            out.send(
                json!({"v":1,"type":"sdp","pc":"sub","kind":"answer","sdp":local.sdp}).to_string(),
            )
            .ok();
        }
        other => bail!("unexpected sdp {other:?}"),
    }
    Ok(())
}
