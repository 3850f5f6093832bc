//! The page's participant: `sotto_participant::Participant` for
//! JavaScript. The page is plumbing around it (spec: DESIGN "client"):
//!
//! ```text
//! const p = new Participant(identity, room, fragment ?? undefined, name, seed, now());
//! for (let o; (o = p.pollOutput()); ) carry out JSON.parse(o):
//!   {do: "connect"}                  open a WebSocket, then p.handleConnected(now())
//!                                    (or p.handleDisconnected(why, now()))
//!   {do: "send", text}               ws.send(text): an encoded signalling message
//!   {do: "close"}                    close the WebSocket and forget it
//!   {do: "keys", kind: "epoch"}      worker.addEpoch(p.takeEpochKeys())
//!   {do: "keys", kind: "ack", epoch, leaf} / {kind: "departed", participant} / {kind: "reset"}
//!   {do: "media", kind: "start", iceServers} / {kind: "signal", message} / {kind: "stop"}
//!   {do: "event", type, ...}         the interface
//! ws.onmessage = (e) => p.handleMessage(e.data, now())
//! ws.onclose   = (e) => p.handleDisconnected(why, now())
//! at p.pollTimeout(): p.handleTimeout(now())
//! ```
//!
//! After every call the page carries out every output, in order (a new
//! epoch's keys reach the Worker before the ack that announces them goes
//! out). Times are milliseconds since the Unix epoch, as `f64`. Epoch keys
//! never pass through JSON: they are taken as bytes for the Worker.

use std::collections::VecDeque;

use serde_json::{Value, json};
use sotto_crypto::ParticipantId;
use sotto_crypto::session::SessionError;
use sotto_crypto::verify::Fingerprint;
use sotto_participant::{Config, EndReason, Event, KeyUpdate, MediaCommand, Output, Status};
use sotto_proto::{RoomName, decode_server, encode};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::identity::{load_identity, secret};
use crate::{BindingError, instant, millis};

/// One participant in one room, across its connections.
#[wasm_bindgen]
pub struct Participant {
    inner: sotto_participant::Participant,
    keys: VecDeque<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Participant")
            .field("inner", &self.inner)
            .finish()
    }
}

fn participant(id: &str) -> Result<ParticipantId, BindingError> {
    ParticipantId::new(id).map_err(|_| BindingError::BadParticipant)
}

fn refused(e: SessionError) -> JsError {
    let code = match e {
        SessionError::KnockChanged { .. } => "knock_changed",
        SessionError::UnknownKnock(_) => "unknown_knock",
        SessionError::WrongState { .. } => "not_in_room",
        SessionError::App(_) => "bad_text",
        _ => "refused",
    };
    BindingError::Refused(code).into()
}

/// The `ended` event's fields: `reason`, and `code` for a server refusal.
fn end_json(r: &EndReason) -> Value {
    match r {
        EndReason::Left => json!({"reason": "left"}),
        EndReason::Refused => json!({"reason": "refused"}),
        EndReason::Removed => json!({"reason": "removed"}),
        EndReason::GhostRoom => json!({"reason": "ghost_room"}),
        EndReason::Unreachable(why) => json!({"reason": "unreachable", "detail": why}),
        EndReason::Lost(why) => json!({"reason": "lost", "detail": why}),
        EndReason::Server { code, message } => {
            json!({"reason": "server", "code": code.as_str(), "detail": message})
        }
        _ => json!({"reason": "error"}),
    }
}

/// An event as the page reads it: `type` names it.
pub fn event_json(e: &Event) -> Option<Value> {
    Some(match e {
        Event::Connected {
            participant,
            creator,
        } => json!({"type": "connected", "participant": participant, "creator": creator}),
        Event::Waiting { knocking } => json!({"type": "waiting", "knocking": knocking}),
        Event::Opened { fragment } => json!({"type": "opened", "fragment": fragment}),
        Event::Joined {
            participant,
            epoch,
            room_code,
        } => json!({"type": "joined", "participant": participant, "epoch": epoch,
                    "roomCode": room_code.to_string()}),
        Event::EpochChanged { epoch, room_code } => {
            json!({"type": "epoch_changed", "epoch": epoch, "roomCode": room_code.to_string()})
        }
        Event::MemberAdded {
            participant,
            leaf,
            fingerprint,
            admission,
            added_by,
        } => json!({"type": "member_added", "participant": participant, "leaf": leaf,
                    "fingerprint": fingerprint.to_string(), "admission": admission.as_str(),
                    "addedBy": added_by}),
        Event::MemberRemoved {
            participant,
            removed_by,
        } => json!({"type": "member_removed", "participant": participant, "removedBy": removed_by}),
        Event::Departed {
            participant,
            reason,
            member,
        } => json!({"type": "departed", "participant": participant,
                    "reason": reason.as_str(), "member": member}),
        Event::RemovalOverdue { participant } => {
            json!({"type": "removal_overdue", "participant": participant})
        }
        Event::Knock {
            participant,
            fingerprint,
        } => json!({"type": "knock", "participant": participant,
                    "fingerprint": fingerprint.to_string()}),
        Event::KnockClosed { participant } => {
            json!({"type": "knock_closed", "participant": participant})
        }
        Event::KeyPackageConflict { participant } => {
            json!({"type": "key_package_conflict", "participant": participant})
        }
        Event::Chat { from, text } => json!({"type": "chat", "from": from, "text": text}),
        Event::Name { from, name } => json!({"type": "profile", "from": from, "name": name}),
        Event::Status { from, status } => json!({"type": "status", "from": from,
                    "mic": status.mic, "camera": status.camera, "hand": status.hand,
                    "recording": status.recording}),
        Event::Reaction { from, emoji } => {
            json!({"type": "reaction", "from": from, "emoji": emoji})
        }
        Event::Rejoining { after, reason } => {
            json!({"type": "rejoining", "afterMs": after.as_millis() as u64, "reason": reason})
        }
        Event::MediaFailed { attempt } => json!({"type": "media_failed", "attempt": attempt}),
        Event::Warning { message } => json!({"type": "warning", "message": message}),
        Event::Ended(r) => {
            let mut v = end_json(r);
            v["type"] = json!("ended");
            v
        }
        _ => return None,
    })
}

impl Participant {
    /// The next output as a JSON value (native tests read it this way).
    pub fn next_output(&mut self) -> Option<Value> {
        loop {
            let o = self.inner.poll_output()?;
            if let Some(v) = self.output_json(o) {
                return Some(v);
            }
        }
    }

    fn output_json(&mut self, o: Output) -> Option<Value> {
        Some(match o {
            Output::Connect => json!({"do": "connect"}),
            Output::Send(msg) => json!({"do": "send", "text": encode(&msg)}),
            Output::Close => json!({"do": "close"}),
            Output::Keys(KeyUpdate::Epoch(keys)) => {
                let epoch = keys.epoch();
                self.keys.push_back(keys.to_bytes());
                json!({"do": "keys", "kind": "epoch", "epoch": epoch})
            }
            Output::Keys(KeyUpdate::Ack { epoch, leaf }) => {
                json!({"do": "keys", "kind": "ack", "epoch": epoch, "leaf": leaf})
            }
            Output::Keys(KeyUpdate::Departed(p)) => {
                json!({"do": "keys", "kind": "departed", "participant": p})
            }
            Output::Keys(KeyUpdate::Reset) => {
                // Keys not yet taken belong to the group that is over.
                self.keys.clear();
                json!({"do": "keys", "kind": "reset"})
            }
            Output::Media(MediaCommand::Start { ice_servers }) => {
                json!({"do": "media", "kind": "start", "iceServers": ice_servers})
            }
            Output::Media(MediaCommand::Signal(msg)) => {
                let text = encode(&msg);
                let message: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                json!({"do": "media", "kind": "signal", "message": message})
            }
            Output::Media(MediaCommand::Stop) => json!({"do": "media", "kind": "stop"}),
            Output::Event(e) => {
                let mut v = event_json(&e)?;
                v["do"] = json!("event");
                v
            }
            _ => return None,
        })
    }
}

#[wasm_bindgen]
impl Participant {
    /// A participant for `room` (its name as in the URL's path), with the
    /// link's `fragment` or without it to knock. `identity` is a
    /// serialised identity (`generateIdentity`), `name` the display name
    /// (sent only inside MLS), `seed` any random number (the reconnect
    /// jitter). Its first output is `connect`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        identity: &[u8],
        room: &str,
        fragment: Option<String>,
        name: Option<String>,
        seed: f64,
        now: f64,
    ) -> Result<Participant, JsError> {
        let identity = load_identity(identity)?;
        let room = RoomName::parse(room).map_err(|_| BindingError::BadRoom)?;
        let secret = fragment.as_deref().map(secret).transpose()?;
        let config = Config {
            // Any bits will do: the seed only spreads reconnects in time.
            seed: seed.to_bits(),
            ..Config::default()
        };
        let inner = sotto_participant::Participant::new(
            config,
            identity,
            room,
            secret,
            name,
            instant(now)?,
        );
        Ok(Participant {
            inner,
            keys: VecDeque::new(),
        })
    }

    /// The WebSocket opened.
    #[wasm_bindgen(js_name = handleConnected)]
    pub fn handle_connected(&mut self, now: f64) -> Result<(), JsError> {
        self.inner.handle_connected(instant(now)?);
        Ok(())
    }

    /// The WebSocket closed or could not open.
    #[wasm_bindgen(js_name = handleDisconnected)]
    pub fn handle_disconnected(&mut self, why: &str, now: f64) -> Result<(), JsError> {
        self.inner.handle_disconnected(why, instant(now)?);
        Ok(())
    }

    /// A text frame from the server, as it came.
    #[wasm_bindgen(js_name = handleMessage)]
    pub fn handle_message(&mut self, text: &str, now: f64) -> Result<(), JsError> {
        let now = instant(now)?;
        match decode_server(text) {
            Ok(msg) => self.inner.handle_message(msg, now),
            Err(e) => self.inner.handle_unreadable(&e.message),
        }
        Ok(())
    }

    /// Runs the timers.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now: f64) -> Result<(), JsError> {
        self.inner.handle_timeout(instant(now)?);
        Ok(())
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work, in ms
    /// since the Unix epoch.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(millis)
    }

    /// The next output, as JSON, or `undefined`.
    #[wasm_bindgen(js_name = pollOutput)]
    pub fn poll_output(&mut self) -> Option<String> {
        self.next_output().map(|v| v.to_string())
    }

    /// The serialised keys of the oldest `keys`/`epoch` output not yet
    /// taken, for the Worker's [`FrameCrypto::add_epoch`](crate::frames::FrameCrypto::add_epoch).
    #[wasm_bindgen(js_name = takeEpochKeys)]
    pub fn take_epoch_keys(&mut self) -> Option<Vec<u8>> {
        self.keys.pop_front().map(|k| k.to_vec())
    }

    /// Lets a knocker in, if its key still has the fingerprint that was
    /// shown (`shown`, grouped or not). Throws `knock_changed` otherwise.
    #[wasm_bindgen(js_name = acceptKnock)]
    pub fn accept_knock(&mut self, who: &str, shown: &str, now: f64) -> Result<(), JsError> {
        let who = participant(who)?;
        let shown = Fingerprint::parse(shown).ok_or(BindingError::BadFingerprint)?;
        self.inner
            .accept_knock(&who, &shown, instant(now)?)
            .map_err(refused)
    }

    /// Refuses a knocker.
    #[wasm_bindgen(js_name = refuseKnock)]
    pub fn refuse_knock(&mut self, who: &str, now: f64) -> Result<(), JsError> {
        let who = participant(who)?;
        self.inner
            .refuse_knock(&who, instant(now)?)
            .map_err(refused)
    }

    /// Removes another member from the group.
    #[wasm_bindgen(js_name = removeMember)]
    pub fn remove_member(&mut self, who: &str, now: f64) -> Result<(), JsError> {
        let who = participant(who)?;
        self.inner
            .remove_member(&who, instant(now)?)
            .map_err(refused)
    }

    /// Sends a chat line (an MLS application message).
    #[wasm_bindgen(js_name = sendChat)]
    pub fn send_chat(&mut self, text: &str, now: f64) -> Result<(), JsError> {
        self.inner.send_chat(text, instant(now)?).map_err(refused)
    }

    /// Sets our display name (travels only inside MLS).
    #[wasm_bindgen(js_name = setName)]
    pub fn set_name(&mut self, name: &str, now: f64) -> Result<(), JsError> {
        self.inner.set_name(name, instant(now)?).map_err(refused)
    }

    /// Says our state to the group (inside MLS): microphone on, camera on,
    /// hand raised, recording.
    #[wasm_bindgen(js_name = setStatus)]
    pub fn set_status(
        &mut self,
        mic: bool,
        camera: bool,
        hand: bool,
        recording: bool,
        now: f64,
    ) -> Result<(), JsError> {
        let status = sotto_participant::MemberStatus {
            mic,
            camera,
            hand,
            recording,
        };
        self.inner
            .set_status(status, instant(now)?)
            .map_err(refused)
    }

    /// Our peer connections failed: asks the server to start our media
    /// over (at most every 10 s).
    #[wasm_bindgen(js_name = handleMediaFailed)]
    pub fn handle_media_failed(&mut self, now: f64) -> Result<(), JsError> {
        self.inner.handle_media_failed(instant(now)?);
        Ok(())
    }

    /// Sends a reaction (one of the six sotto shows).
    #[wasm_bindgen(js_name = sendReaction)]
    pub fn send_reaction(&mut self, emoji: &str, now: f64) -> Result<(), JsError> {
        self.inner
            .send_reaction(emoji, instant(now)?)
            .map_err(refused)
    }

    /// Leaves the room.
    pub fn leave(&mut self) {
        self.inner.leave();
    }

    /// `connecting`, `reconnecting`, `waiting`, `knocking`, `member` or
    /// `ended`.
    pub fn status(&self) -> String {
        match self.inner.status() {
            Status::Connecting => "connecting",
            Status::Reconnecting => "reconnecting",
            Status::Waiting { knocking: false } => "waiting",
            Status::Waiting { knocking: true } => "knocking",
            Status::Member => "member",
            _ => "ended",
        }
        .into()
    }

    /// Our participant id on the current connection.
    pub fn id(&self) -> Option<String> {
        self.inner.id().map(|p| p.as_str().to_owned())
    }

    /// Our own fingerprint, grouped.
    pub fn fingerprint(&self) -> String {
        self.inner.fingerprint().to_string()
    }

    /// The current room code, grouped, if a member.
    #[wasm_bindgen(js_name = roomCode)]
    pub fn room_code(&self) -> Option<String> {
        self.inner.room_code().map(|c| c.to_string())
    }

    /// The current epoch, if a member.
    pub fn epoch(&self) -> Option<f64> {
        // Epochs count commits: far below 2^53.
        self.inner.epoch().map(|e| e as f64)
    }

    /// The group's members as JSON: `[{participant, leaf, fingerprint,
    /// admission, leaving}]`, the MLS roster (never the server's word).
    pub fn members(&self) -> String {
        let leaving = self.inner.leaving();
        let list: Vec<Value> = self
            .inner
            .members()
            .into_iter()
            .map(|m| {
                json!({"participant": m.participant, "leaf": m.leaf,
                       "fingerprint": m.fingerprint.to_string(),
                       "admission": m.admission.as_str(),
                       "leaving": leaving.contains(&m.participant)})
            })
            .collect();
        Value::Array(list).to_string()
    }

    /// The safety number (60 digits, grouped) of us and `who`, a member or
    /// knocker of this connection; `undefined` for anyone else.
    #[wasm_bindgen(js_name = safetyNumber)]
    pub fn safety_number(&self, who: &str) -> Option<String> {
        let who = ParticipantId::new(who).ok()?;
        self.inner.safety_number(&who).map(|s| s.to_string())
    }
}
