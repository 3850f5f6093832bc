//! sotto-server: signalling, MLS delivery service and SFU.

fn main() {}
