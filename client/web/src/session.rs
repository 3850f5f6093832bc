//! The page's MLS session: `sotto_crypto::session::Session` for JavaScript.
//!
//! The page feeds it the server's messages as they come and sends what it
//! yields (the drive loop of `sotto_crypto`'s crate docs). Outputs come out
//! as the JSON of the signalling message to send (spec/protocol.md §3,
//! without the `v` envelope field), events as JSON objects with a `type`.
//! Epoch keys never pass through JSON: an `epoch_keys` event only says that
//! [`Session::take_epoch_keys`] has the serialised keys for the Worker.
//!
//! Times are milliseconds since the Unix epoch (`Date.now()`), as `f64`.

use std::collections::{HashMap, VecDeque};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sotto_crypto::admission::RoomSecret;
use sotto_crypto::identity::Identity;
use sotto_crypto::session::{
    self, Admission, EndReason, Event, Output, SessionConfig, SessionError, State,
};
use sotto_crypto::verify::Fingerprint;
use sotto_crypto::{Instant, ParticipantId};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

/// Why the binding refused a call; the `message` of the thrown `Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BindingError {
    /// The stored identity does not parse.
    #[error("bad_identity")]
    BadIdentity,
    /// The link fragment is not a room secret.
    #[error("bad_secret")]
    BadSecret,
    /// A participant id that is not one.
    #[error("bad_participant")]
    BadParticipant,
    /// A time that is not a count of milliseconds.
    #[error("bad_time")]
    BadTime,
    /// The session refused the input (peer input or a call in the wrong
    /// state); the session is unchanged.
    #[error("refused")]
    Refused,
    /// The session ended: it was removed, or the Welcome led to a room
    /// without this link's binding.
    #[error("ended")]
    Ended,
}

impl From<SessionError> for BindingError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::GhostRoom => BindingError::Ended,
            _ => BindingError::Refused,
        }
    }
}

fn js(e: BindingError) -> JsError {
    JsError::new(&e.to_string())
}

/// Milliseconds since the Unix epoch as the crate's [`Instant`].
pub fn instant(ms: f64) -> Result<Instant, BindingError> {
    if !ms.is_finite() || !(0.0..=9.0e15).contains(&ms) {
        return Err(BindingError::BadTime);
    }
    // In range and non-negative: the cast only drops the fraction.
    Ok(Instant::from_millis(ms as u64))
}

fn millis(at: Instant) -> f64 {
    // Below 2^53 for any date this code will see.
    at.as_millis() as f64
}

fn participant(id: &str) -> Result<ParticipantId, BindingError> {
    ParticipantId::new(id).map_err(|_| BindingError::BadParticipant)
}

fn load_identity(bytes: &[u8]) -> Result<Identity, BindingError> {
    Identity::from_bytes(bytes).map_err(|_| BindingError::BadIdentity)
}

fn secret(fragment: &str) -> Result<RoomSecret, BindingError> {
    RoomSecret::from_fragment(fragment).map_err(|_| BindingError::BadSecret)
}

/// A new random identity, serialised for IndexedDB. Throws `bad_identity`
/// only if the browser has no random source.
#[wasm_bindgen(js_name = generateIdentity)]
pub fn generate_identity() -> Result<Vec<u8>, JsError> {
    let id = Identity::generate().map_err(|_| js(BindingError::BadIdentity))?;
    Ok(id.to_bytes().to_vec())
}

/// The fingerprint (30 digits, grouped by five) of a stored identity.
#[wasm_bindgen(js_name = identityFingerprint)]
pub fn identity_fingerprint(identity: &[u8]) -> Result<String, JsError> {
    Ok(load_identity(identity)
        .map_err(js)?
        .fingerprint()
        .to_string())
}

/// A new link secret, as the URL fragment.
#[wasm_bindgen(js_name = generateSecret)]
pub fn generate_secret() -> Result<String, JsError> {
    let s = RoomSecret::generate().map_err(|_| js(BindingError::BadSecret))?;
    Ok(s.to_fragment().to_string())
}

/// Whether `fragment` is a well-formed link secret.
#[wasm_bindgen(js_name = isSecret)]
pub fn is_secret(fragment: &str) -> bool {
    secret(fragment).is_ok()
}

fn admission_name(a: Admission) -> &'static str {
    match a {
        Admission::Link => "link",
        Admission::Knock => "knock",
        Admission::Unverifiable => "unverifiable",
    }
}

fn end_name(r: EndReason) -> &'static str {
    match r {
        EndReason::Removed => "removed",
        EndReason::GhostRoom => "ghost_room",
        _ => "ended",
    }
}

/// The signalling message for one output (spec/protocol.md §3).
pub fn output_json(o: &Output) -> Option<Value> {
    Some(match o {
        Output::KeyPackage(kp) => json!({"type": "key_package", "key_package": B64.encode(kp)}),
        Output::Commit(c) => {
            let mut m =
                json!({"type": "commit", "epoch": c.epoch, "commit": B64.encode(&c.commit)});
            if let Some(w) = &c.welcome {
                m["welcome"] = json!(B64.encode(w));
                let to: Vec<&str> = c.welcome_to.iter().map(ParticipantId::as_str).collect();
                m["welcome_to"] = json!(to);
            }
            m
        }
        Output::Application(a) => json!({"type": "application", "data": B64.encode(a)}),
        Output::RefuseKnock(p) => json!({"type": "refuse_knock", "participant": p.as_str()}),
        _ => return None,
    })
}

/// One participant's MLS session in one room.
#[wasm_bindgen]
pub struct Session {
    inner: session::Session,
    own: Fingerprint,
    /// Fingerprints of members and knockers, for safety numbers.
    known: HashMap<String, Fingerprint>,
    keys: VecDeque<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("inner", &self.inner)
            .finish()
    }
}

impl Session {
    fn wrap(inner: session::Session, identity: &Identity) -> Session {
        Session {
            inner,
            own: identity.fingerprint(),
            known: HashMap::new(),
            keys: VecDeque::new(),
        }
    }

    /// The next event as a JSON value (native tests read it this way).
    pub fn next_event(&mut self) -> Option<Value> {
        loop {
            let e = self.inner.poll_event()?;
            if let Some(v) = self.event_json(e) {
                return Some(v);
            }
        }
    }

    fn event_json(&mut self, e: Event) -> Option<Value> {
        Some(match e {
            Event::Joined {
                epoch,
                room_code,
                own_leaf,
            } => json!({"type": "joined", "epoch": epoch, "roomCode": room_code.to_string(),
                        "ownLeaf": own_leaf}),
            Event::EpochChanged { epoch, room_code } => {
                json!({"type": "epoch_changed", "epoch": epoch, "roomCode": room_code.to_string()})
            }
            Event::EpochKeys(keys) => {
                let epoch = keys.epoch();
                self.keys.push_back(keys.to_bytes());
                json!({"type": "epoch_keys", "epoch": epoch})
            }
            Event::MemberAdded {
                participant,
                leaf,
                fingerprint,
                admission,
                added_by,
            } => {
                let v = json!({"type": "member_added", "participant": participant.as_str(),
                    "leaf": leaf, "fingerprint": fingerprint.to_string(),
                    "admission": admission_name(admission),
                    "addedBy": added_by.as_ref().map(ParticipantId::as_str)});
                self.known.insert(participant.as_str().into(), fingerprint);
                v
            }
            Event::MemberRemoved { participant, leaf } => {
                json!({"type": "member_removed", "participant": participant.as_str(), "leaf": leaf})
            }
            Event::Knock {
                participant,
                fingerprint,
            } => {
                let v = json!({"type": "knock", "participant": participant.as_str(),
                    "fingerprint": fingerprint.to_string()});
                self.known.insert(participant.as_str().into(), fingerprint);
                v
            }
            Event::KnockClosed { participant } => {
                json!({"type": "knock_closed", "participant": participant.as_str()})
            }
            Event::Chat { from, text } => {
                json!({"type": "chat", "from": from.as_str(), "text": text})
            }
            Event::Profile { from, name } => {
                json!({"type": "profile", "from": from.as_str(), "name": name})
            }
            Event::KeyAck { from, leaf, epoch } => {
                json!({"type": "key_ack", "from": from.as_str(), "leaf": leaf, "epoch": epoch})
            }
            Event::Ended(r) => json!({"type": "ended", "reason": end_name(r)}),
            _ => return None,
        })
    }
}

#[wasm_bindgen]
impl Session {
    /// The room's first participant (`joined`, role `creator`).
    pub fn create(
        identity: &[u8],
        participant_id: &str,
        room: &str,
        fragment: &str,
        now: f64,
    ) -> Result<Session, JsError> {
        let id = load_identity(identity).map_err(js)?;
        let inner = session::Session::create(
            SessionConfig::default(),
            &id,
            participant(participant_id).map_err(js)?,
            room,
            &secret(fragment).map_err(js)?,
            instant(now).map_err(js)?,
        )
        .map_err(|e| js(e.into()))?;
        Ok(Session::wrap(inner, &id))
    }

    /// A participant waiting to be admitted (`joined`, role `joiner`);
    /// without `fragment` it knocks.
    pub fn join(
        identity: &[u8],
        participant_id: &str,
        room: &str,
        fragment: Option<String>,
    ) -> Result<Session, JsError> {
        let id = load_identity(identity).map_err(js)?;
        let s = fragment.as_deref().map(secret).transpose().map_err(js)?;
        let inner = session::Session::join(
            SessionConfig::default(),
            &id,
            participant(participant_id).map_err(js)?,
            room,
            s.as_ref(),
        )
        .map_err(|e| js(e.into()))?;
        Ok(Session::wrap(inner, &id))
    }

    /// `become_creator`.
    #[wasm_bindgen(js_name = handleBecomeCreator)]
    pub fn handle_become_creator(&mut self, now: f64) -> Result<(), JsError> {
        let now = instant(now).map_err(js)?;
        self.inner
            .handle_become_creator(now)
            .map_err(|e| js(e.into()))
    }

    /// `welcome` from `from`.
    #[wasm_bindgen(js_name = handleWelcome)]
    pub fn handle_welcome(&mut self, from: &str, welcome: &[u8], now: f64) -> Result<(), JsError> {
        let now = instant(now).map_err(js)?;
        let from = participant(from).map_err(js)?;
        self.inner
            .handle_welcome(&from, welcome, now)
            .map_err(|e| js(e.into()))
    }

    /// `join_request`.
    #[wasm_bindgen(js_name = handleJoinRequest)]
    pub fn handle_join_request(
        &mut self,
        who: &str,
        key_package: &[u8],
        now: f64,
    ) -> Result<(), JsError> {
        let now = instant(now).map_err(js)?;
        let who = participant(who).map_err(js)?;
        self.inner
            .handle_join_request(who, key_package, now)
            .map_err(|e| js(e.into()))
    }

    /// `left`.
    #[wasm_bindgen(js_name = handleDeparture)]
    pub fn handle_departure(&mut self, who: &str, now: f64) -> Result<(), JsError> {
        let now = instant(now).map_err(js)?;
        let who = participant(who).map_err(js)?;
        self.inner.handle_departure(who, now);
        Ok(())
    }

    /// `commit` from another member.
    #[wasm_bindgen(js_name = handleCommit)]
    pub fn handle_commit(
        &mut self,
        from: &str,
        epoch: f64,
        commit: &[u8],
        now: f64,
    ) -> Result<(), JsError> {
        let now = instant(now).map_err(js)?;
        let from = participant(from).map_err(js)?;
        let epoch = epoch_of(epoch).map_err(js)?;
        self.inner
            .handle_commit(&from, epoch, commit, now)
            .map_err(|e| js(e.into()))
    }

    /// `commit_accepted`.
    #[wasm_bindgen(js_name = handleCommitAccepted)]
    pub fn handle_commit_accepted(&mut self, epoch: f64, now: f64) -> Result<(), JsError> {
        let now = instant(now).map_err(js)?;
        let epoch = epoch_of(epoch).map_err(js)?;
        self.inner
            .handle_commit_accepted(epoch, now)
            .map_err(|e| js(e.into()))
    }

    /// `error` `stale_epoch` in reply to our commit.
    #[wasm_bindgen(js_name = handleCommitRejected)]
    pub fn handle_commit_rejected(&mut self, current_epoch: f64) -> Result<(), JsError> {
        let epoch = epoch_of(current_epoch).map_err(js)?;
        self.inner
            .handle_commit_rejected(epoch)
            .map_err(|e| js(e.into()))
    }

    /// `application` from another member.
    #[wasm_bindgen(js_name = handleApplication)]
    pub fn handle_application(&mut self, from: &str, data: &[u8]) -> Result<(), JsError> {
        let from = participant(from).map_err(js)?;
        self.inner
            .handle_application(&from, data)
            .map_err(|e| js(e.into()))
    }

    /// Runs the session's timers.
    pub fn tick(&mut self, now: f64) -> Result<(), JsError> {
        let now = instant(now).map_err(js)?;
        self.inner.tick(now).map_err(|e| js(e.into()))
    }

    /// When [`tick`](Self::tick) next has work, in ms since the epoch.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(millis)
    }

    /// The next message for the server, as JSON, or `undefined`.
    #[wasm_bindgen(js_name = pollOutput)]
    pub fn poll_output(&mut self) -> Option<String> {
        loop {
            let o = self.inner.poll_output()?;
            if let Some(v) = output_json(&o) {
                return Some(v.to_string());
            }
        }
    }

    /// The next event, as JSON, or `undefined`.
    #[wasm_bindgen(js_name = pollEvent)]
    pub fn poll_event(&mut self) -> Option<String> {
        self.next_event().map(|v| v.to_string())
    }

    /// The serialised keys of the oldest `epoch_keys` event not yet taken,
    /// for the Worker's [`FrameCrypto::add_epoch`](crate::frames::FrameCrypto::add_epoch).
    #[wasm_bindgen(js_name = takeEpochKeys)]
    pub fn take_epoch_keys(&mut self) -> Option<Vec<u8>> {
        self.keys.pop_front().map(|k| k.to_vec())
    }

    /// Lets a knocker in.
    #[wasm_bindgen(js_name = acceptKnock)]
    pub fn accept_knock(&mut self, who: &str, now: f64) -> Result<(), JsError> {
        let now = instant(now).map_err(js)?;
        let who = participant(who).map_err(js)?;
        self.inner.accept_knock(&who, now).map_err(|e| js(e.into()))
    }

    /// Refuses a knocker.
    #[wasm_bindgen(js_name = refuseKnock)]
    pub fn refuse_knock(&mut self, who: &str) -> Result<(), JsError> {
        let who = participant(who).map_err(js)?;
        self.inner.refuse_knock(&who).map_err(|e| js(e.into()))
    }

    /// Sends a chat line (an MLS application message).
    #[wasm_bindgen(js_name = sendChat)]
    pub fn send_chat(&mut self, text: &str) -> Result<(), JsError> {
        self.inner.send_chat(text).map_err(|e| js(e.into()))
    }

    /// Sets our display name (travels only inside MLS).
    #[wasm_bindgen(js_name = setProfile)]
    pub fn set_profile(&mut self, name: &str) -> Result<(), JsError> {
        self.inner.set_profile(name).map_err(|e| js(e.into()))
    }

    /// `waiting`, `member` or `ended`.
    pub fn state(&self) -> String {
        match self.inner.state() {
            State::Waiting => "waiting".into(),
            State::Member => "member".into(),
            State::Ended(_) => "ended".into(),
        }
    }

    /// Our own fingerprint, grouped.
    pub fn fingerprint(&self) -> String {
        self.own.to_string()
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

    /// The safety number (60 digits, grouped) of us and `who`, a member or
    /// knocker this session has seen; `undefined` for anyone else.
    #[wasm_bindgen(js_name = safetyNumber)]
    pub fn safety_number(&self, who: &str) -> Option<String> {
        self.known
            .get(who)
            .map(|f| self.own.safety_number(f).to_string())
    }
}

fn epoch_of(e: f64) -> Result<u64, BindingError> {
    if !e.is_finite() || !(0.0..=9.0e15).contains(&e) || e.fract() != 0.0 {
        return Err(BindingError::Refused);
    }
    // Integral, in range.
    Ok(e as u64)
}
