//! MLS key management, end to end in memory: participants, a fake
//! delivery service and a virtual clock (`harness`). One file per
//! behaviour; one test binary, so openmls is linked once.

mod harness;

mod members_join_and_share_media;
