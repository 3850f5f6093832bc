//! sotto's end-to-end encryption, sans-IO.
//!
//! This crate holds everything a participant needs to protect media so that
//! the server in the middle handles only ciphertext, and nothing a server
//! needs: `sotto-server` never depends on it.
//!
//! * [`sframe`]: RFC 9605 exactly: the header, the five registered cipher
//!   suites, key and salt derivation, a sender context that never reuses a
//!   counter and a receiver context with a replay window per key id.
//! * [`media`]: how a WebRTC encoded frame is laid out once protected:
//!   `clear_prefix || sframe_header || ciphertext || tag`, with the codec's
//!   clear prefix authenticated as SFrame metadata.
//! * [`session`]: one participant's MLS (RFC 9420) session in one room,
//!   driven by the signalling messages: joining, admission, commits,
//!   chat and profiles. `spec/mls-profile.md` is its normative text.
//! * [`keys`]: the media key ring: SFrame keys per MLS epoch with the KID
//!   layout of RFC 9605 §5.2, epoch switching and retention.
//! * [`identity`], [`admission`], [`verify`], [`app`]: the signature key a
//!   participant keeps, the link secret's admission tag and room binding,
//!   fingerprints, safety numbers and room codes, application messages.
//!
//! The crate does no I/O, reads no clock and spawns nothing; it builds for
//! `wasm32-unknown-unknown` so the browser runs the very same code. (One
//! exception sits inside openmls: it reads the wall clock to check
//! KeyPackage lifetimes.)
//!
//! # Drive loop
//!
//! Each participant has a [`session::Session`] and a [`keys::KeyRing`].
//! Server messages go to the session's `handle_*` methods with the current
//! time; [`session::Session::poll_output`] yields what to send to the
//! server and [`session::Session::poll_event`] what happened. Two events
//! feed the key ring: [`session::Event::EpochKeys`] and
//! [`session::Event::KeyAck`]. When [`session::Session::poll_timeout`] or
//! [`keys::KeyRing::poll_timeout`] is due, call `tick` / `handle_timeout`.
//!
//! ```
//! use sotto_crypto::admission::RoomSecret;
//! use sotto_crypto::identity::Identity;
//! use sotto_crypto::keys::{KeyRing, KeyRingConfig, TrackSource};
//! use sotto_crypto::media::Codec;
//! use sotto_crypto::session::{Event, Output, Session, SessionConfig};
//! use sotto_crypto::{Instant, ParticipantId};
//! use std::time::Duration;
//!
//! let secret = RoomSecret::from_fragment("AAECAwQFBgcICQoLDA0ODw")?;
//! let (alice, bob) = (ParticipantId::new("alice")?, ParticipantId::new("bob")?);
//! let config = SessionConfig::default();
//! let mut now = Instant::ZERO;
//!
//! // alice creates the room; bob joins with the link and sends his KeyPackage.
//! let mut a = Session::create(config, &Identity::generate()?, alice.clone(), "room", &secret, now)?;
//! let mut b = Session::join(config, &Identity::generate()?, bob.clone(), "room", Some(&secret))?;
//! let Some(Output::KeyPackage(kp)) = b.poll_output() else { unreachable!() };
//!
//! // The server relays it; alice's admission check passes and she commits
//! // after the batch window.
//! a.handle_join_request(bob.clone(), &kp, now)?;
//! now = a.poll_timeout().expect("a commit is due");
//! a.tick(now)?;
//! let Some(Output::Commit(commit)) = a.poll_output() else { unreachable!() };
//! a.handle_commit_accepted(commit.epoch, now)?; // the server's verdict
//! b.handle_welcome(&alice, &commit.welcome.expect("welcome"), now)?;
//!
//! // Each session hands its epoch keys to its own key ring.
//! let mut rings = [KeyRing::new(KeyRingConfig::default()), KeyRing::new(KeyRingConfig::default())];
//! for (s, ring) in [&mut a, &mut b].into_iter().zip(&mut rings) {
//!     while let Some(e) = s.poll_event() {
//!         if let Event::EpochKeys(keys) = e {
//!             ring.add_epoch(keys, now)?;
//!         }
//!     }
//! }
//! now = now + Duration::from_secs(2); // no acks relayed here: wait out the switch
//! rings[0].handle_timeout(now);
//! assert_eq!(a.room_code(), b.room_code());
//!
//! let wire = rings[0].protect(Codec::Opus, TrackSource::Mic, &[0x78, 1, 2, 3])?;
//! let got = rings[1].unprotect(Codec::Opus, &wire)?;
//! assert_eq!(got.origin.participant, alice);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Lower down, a sender can also derive one [`sframe::SenderContext`] per
//! outgoing stream and call [`media::protect`] on each encoded frame; a
//! receiver keeps one [`sframe::ReceiverContext`] holding every key it may
//! need and calls [`media::unprotect`], dropping any frame that returns an
//! error:
//!
//! ```
//! use sotto_crypto::media::{self, Codec};
//! use sotto_crypto::sframe::{CipherSuite, KeyId, ReceiverContext, SenderContext};
//!
//! let base_key = [7u8; 16]; // in sotto this comes from the MLS exporter
//! let suite = CipherSuite::AesGcm128Sha256;
//! let kid = KeyId(0x42);
//! let mut tx = SenderContext::new(suite, kid, &base_key)?;
//! let mut rx = ReceiverContext::new(suite);
//! rx.add_key(kid, &base_key)?;
//!
//! let opus_frame = [0x78, 1, 2, 3, 4];
//! let wire = media::protect(Codec::Opus, &mut tx, &opus_frame)?;
//! assert_eq!(wire[0], 0x78); // the TOC byte stays readable
//! let clear = media::unprotect(Codec::Opus, &mut rx, &wire)?;
//! assert_eq!(clear.frame, opus_frame);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod admission;
pub mod app;
pub mod identity;
pub mod keys;
pub mod media;
pub mod session;
pub mod sframe;
pub mod time;
pub mod verify;

/// The participant id of the signalling protocol, which is also the
/// identity in every MLS credential (one type across the workspace).
pub use sotto_proto::ParticipantId;
pub use time::Instant;
