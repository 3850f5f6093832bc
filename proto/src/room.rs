//! Room names and room links (spec/protocol.md §1).
//!
//! A room is named the way people type it: [`RoomName::from_typed`] turns
//! `Alice-and-Bob-03-May-2020` or `Émile et Zoé` into the canonical form
//! (`alice-and-bob-03-may-2020`, `émile-et-zoé`) that is the room's
//! identity on the wire and in MLS. [`RoomName::parse`] accepts only that
//! form, so two spellings can never be two rooms. In a URL the canonical
//! form travels percent-encoded ([`RoomName::from_path_segment`],
//! [`RoomName::path_segment`]).

mod link;
mod name;

pub use link::{LinkError, RoomLink};
pub use name::{RoomName, RoomNameError};
