//! Readable random room names (spec §1: "three words and two digits, for
//! example `quiet-otter-lamp-42`").
//!
//! About 21 bits of randomness: enough to keep rooms from colliding by
//! accident, nothing more. A room's protection is its link's SECRET, not
//! the secrecy of its name.

use rand::RngExt;

const ADJECTIVES: [&str; 32] = [
    "amber", "brave", "calm", "clever", "coral", "dusty", "eager", "fancy", "gentle", "golden",
    "happy", "hidden", "humble", "jolly", "kind", "lively", "lucky", "mellow", "misty", "noble",
    "olive", "proud", "quiet", "rapid", "rusty", "silent", "silver", "sunny", "swift", "tidy",
    "velvet", "witty",
];

const ANIMALS: [&str; 32] = [
    "badger", "beaver", "bison", "crane", "falcon", "ferret", "finch", "fox", "gecko", "heron",
    "ibis", "koala", "lemur", "lynx", "marten", "moose", "newt", "ocelot", "otter", "owl", "panda",
    "puffin", "quail", "raven", "robin", "seal", "stoat", "tapir", "tern", "vole", "walrus",
    "wren",
];

const THINGS: [&str; 32] = [
    "anchor", "basket", "bell", "bridge", "candle", "canoe", "cloud", "comet", "drum", "feather",
    "garden", "harbor", "kettle", "kite", "lamp", "lantern", "meadow", "mirror", "orchard",
    "pebble", "piano", "river", "saddle", "spoon", "teapot", "tower", "tulip", "violin", "wagon",
    "whistle", "window", "yarn",
];

/// A fresh random room name such as `quiet-otter-lamp-42`.
pub fn random_room_name() -> String {
    let mut rng = rand::rng();
    format!(
        "{}-{}-{}-{:02}",
        ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
        ANIMALS[rng.random_range(0..ANIMALS.len())],
        THINGS[rng.random_range(0..THINGS.len())],
        rng.random_range(0..100u32),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_room_names() {
        for _ in 0..200 {
            let name = random_room_name();
            assert!(sotto_proto::RoomName::parse(&name).is_ok(), "{name}");
            assert_eq!(name.split('-').count(), 4);
        }
    }
}
