//! sotto: the native participant.

fn main() {}
