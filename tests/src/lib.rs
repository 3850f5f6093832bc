//! End-to-end tests of sotto: the real `sotto-server` (signalling and SFU)
//! on 127.0.0.1 with native participants from `sotto-client`.
//!
//! The harness is shared by the test binaries under `tests/`:
//! * [`server`]: a server on an ephemeral port, SFU included;
//! * [`member`]: a participant that keeps every event, every frame it sent
//!   and every protected frame it received;
//! * [`tap`]: a relay in front of the signalling WebSocket that keeps what
//!   the server relays;
//! * [`tripwire`]: a relay that breaks one participant's connection when
//!   it sends a commit;
//! * [`lossy`]: a UDP path that drops and delays media datagrams;
//! * [`frames`]: reading recordings back and comparing them with what was
//!   sent;
//! * [`cheat`]: a signalling relay that tampers with messages both ways,
//!   and what an operator can forge without the link secret (with
//!   [`server::TestServer::start_tampering`] for the media path: a
//!   cheating server).

pub mod cheat;
pub mod dice;
pub mod frames;
pub mod lossy;
pub mod member;
pub mod server;
pub mod tap;
pub mod tripwire;
pub mod turn;

use std::time::Duration;

/// How long a test waits for something that should happen: loopback ICE,
/// DTLS and MLS take about a second; the machine may be busy.
pub const PATIENCE: Duration = Duration::from_secs(20);
