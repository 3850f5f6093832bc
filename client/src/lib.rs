//! sotto's native participant: everything a browser participant does,
//! minus the screen.
//!
//! [`room::Room::join`] takes a room link and an identity and runs the
//! whole participation in a task: the participant core of
//! `sotto-participant` (membership, knocks, rejoins: the same rules the
//! browser runs) fed by the signalling WebSocket ([`signalling`]), the
//! media key ring ([`keys`]), and two peer connections to the SFU ([`peer`]):
//! `pub` sends our tracks ([`publish`]), each frame SFrame-protected before
//! it is packetised; `sub` receives everyone else's ([`subscribe`]), each
//! frame opened only if its key belongs to the track's owner, then
//! recorded ([`media`]). What happens comes back as [`room::Event`]s.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sotto_client::room::{Event, JoinOptions, Room, RoomEvent};
//! use sotto_crypto::identity::Identity;
//! use sotto_proto::RoomLink;
//!
//! let link = RoomLink::parse("https://sotto.example/quiet-otter-lamp-42#wcYT1p5k4ZuwbDr4QYCh8w")?;
//! let (room, mut events) = Room::join(JoinOptions::new(link, Identity::generate()?))?;
//! while let Some(event) = events.recv().await {
//!     if let Event::Room(RoomEvent::Joined { room_code, .. }) = event {
//!         println!("in; room code {room_code}");
//!         break;
//!     }
//! }
//! room.leave().await;
//! # Ok(())
//! # }
//! ```

pub mod keys;
pub mod media;
pub mod names;
pub mod peer;
pub mod publish;
pub mod room;
pub mod sdp;
pub mod signalling;
pub mod subscribe;

#[cfg(test)]
mod loopback_tests;
