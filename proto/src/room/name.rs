//! The room name: normalisation of what people type, the canonical form,
//! and its percent-encoded form in a URL path (spec §1).

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Canonical names that are the server's own paths, or files that browsers
/// and crawlers ask for by themselves (`/favicon.ico`, `/robots.txt`), in
/// their normalised form (`.` becomes `-`). None of them is a room.
const RESERVED: [&str; 11] = [
    "ws",
    "healthz",
    "metrics",
    "static",
    "api",
    "favicon-ico",
    "robots-txt",
    "index-html",
    "well-known",
    "apple-touch-icon-png",
    "apple-touch-icon-precomposed-png",
];

/// What stays as it is in a path segment: the ASCII letters and digits
/// and `-` (RFC 3986 §2.3 unreserved); every other byte of the UTF-8 is
/// `%XX`, as browsers send it.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-');

/// A room name in its canonical form (spec §1): what [`RoomName::from_typed`]
/// makes of what a person typed. Two names are the same room exactly when
/// they are equal.
///
/// Every canonical name has 3 to 64 characters, each alphabetic or numeric
/// in Unicode's sense (`char::is_alphanumeric`) or `-`, no `-` at either
/// end or next to another, is in NFKC and lowercase, and is not reserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoomName(String);

/// Why a room name was refused: the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoomNameError {
    /// Fewer than [`RoomName::MIN_CHARS`] characters once normalised.
    #[error("a room name has at least 3 characters, this one {chars}")]
    TooShort {
        /// Characters of the normalised name.
        chars: usize,
    },
    /// More than [`RoomName::MAX_CHARS`] characters once normalised.
    #[error("a room name has at most 64 characters, this one {chars}")]
    TooLong {
        /// Characters of the normalised name.
        chars: usize,
    },
    /// A character that is neither a letter, a digit nor `-` once
    /// normalised.
    #[error("a room name has only letters, digits and '-', not {0:?}")]
    Character(char),
    /// One of the server's own paths.
    #[error("'{0}' is reserved")]
    Reserved(String),
    /// A valid name that is not written in its canonical form: only the
    /// canonical form identifies a room ([`RoomName::parse`]).
    #[error("a room name is written in its canonical form, here '{canonical}'")]
    NotCanonical {
        /// What the name normalises to.
        canonical: RoomName,
    },
    /// A URL path segment whose percent-decoding is not UTF-8.
    #[error("a room name in a URL is UTF-8, percent-encoded")]
    NotUtf8,
}

impl RoomName {
    /// Fewest characters (Unicode scalar values, not bytes).
    pub const MIN_CHARS: usize = 3;
    /// Most characters (Unicode scalar values, not bytes).
    pub const MAX_CHARS: usize = 64;
    /// Fewest characters; the name of [`RoomName::MIN_CHARS`] before names
    /// were Unicode.
    pub const MIN_LEN: usize = Self::MIN_CHARS;
    /// Most characters; the name of [`RoomName::MAX_CHARS`] before names
    /// were Unicode.
    pub const MAX_LEN: usize = Self::MAX_CHARS;

    /// The room that `typed` names, as a person typed it (spec §1), in this
    /// order: Unicode NFKC; lowercase; NFKC again; each space (U+0020), `_` and `.`
    /// becomes `-`; runs of `-` become one; `-` at either end is dropped.
    /// The result must have 3 to 64 characters, each alphabetic, numeric or
    /// `-`, and not be reserved.
    ///
    /// Percent-decoding is not done here: see [`RoomName::from_path_segment`].
    pub fn from_typed(typed: &str) -> Result<RoomName, RoomNameError> {
        // NFKC first, so that lowercase sees the letters fullwidth and
        // other compatibility forms stand for (`ＡＢＣ` is `ABC`); then again,
        // since lowercasing can leave text that is not NFKC (`Άͅ`, alpha with
        // prosgegrammeni and an acute, lowercases to `ά` + U+0345, which
        // NFKC composes to `ᾴ`), and the result must be its own canonical
        // form.
        let lower: String = typed
            .nfkc()
            .collect::<String>()
            .to_lowercase()
            .nfkc()
            .collect();
        let mut name = String::with_capacity(lower.len());
        for c in lower.chars() {
            let c = match c {
                ' ' | '_' | '.' => '-',
                c => c,
            };
            if c == '-' && (name.is_empty() || name.ends_with('-')) {
                continue;
            }
            name.push(c);
        }
        if name.ends_with('-') {
            name.pop();
        }
        if let Some(bad) = name.chars().find(|&c| !(c == '-' || c.is_alphanumeric())) {
            return Err(RoomNameError::Character(bad));
        }
        let chars = name.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(RoomNameError::TooShort { chars });
        }
        if chars > Self::MAX_CHARS {
            return Err(RoomNameError::TooLong { chars });
        }
        if RESERVED.contains(&name.as_str()) {
            return Err(RoomNameError::Reserved(name));
        }
        Ok(RoomName(name))
    }

    /// `name` if it is a canonical room name, as `join.room` must carry
    /// it (spec §1, §3): one that [`RoomName::from_typed`] leaves as it is.
    /// A name that normalises to another is [`RoomNameError::NotCanonical`].
    pub fn parse(name: &str) -> Result<RoomName, RoomNameError> {
        let canonical = Self::from_typed(name)?;
        if canonical.0 != name {
            return Err(RoomNameError::NotCanonical { canonical });
        }
        Ok(canonical)
    }

    /// The room that a URL path segment (without its `/`) names: the
    /// segment percent-decoded as UTF-8 (RFC 3986 §2.1), then
    /// [`RoomName::from_typed`]. `%2F` decodes to a `/`, which no name has.
    pub fn from_path_segment(segment: &str) -> Result<RoomName, RoomNameError> {
        let typed = percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| RoomNameError::NotUtf8)?;
        Self::from_typed(&typed)
    }

    /// The name as a URL path segment: its UTF-8, percent-encoded except
    /// for ASCII letters, digits and `-`, with upper-case hex digits
    /// (`émile-et-zoé` is `%C3%A9mile-et-zo%C3%A9`). A server redirects
    /// every other spelling of the room's path to this one.
    pub fn path_segment(&self) -> String {
        utf8_percent_encode(&self.0, PATH_SEGMENT).to_string()
    }

    /// The canonical name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoomName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RoomName::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> Result<String, RoomNameError> {
        RoomName::from_typed(s).map(|n| n.0)
    }

    #[test]
    fn names_as_people_type_them_become_canonical() {
        for (input, canonical) in [
            ("Alice-and-Bob-03-May-2020", "alice-and-bob-03-may-2020"),
            ("Alice-et-Bob-03-mai-2020", "alice-et-bob-03-mai-2020"),
            ("Émile-et-Zoé", "émile-et-zoé"),
            ("quiet-otter-lamp-42", "quiet-otter-lamp-42"),
            ("ＡＢＣ", "abc"),
        ] {
            assert_eq!(typed(input).as_deref(), Ok(canonical), "{input}");
        }
    }

    #[test]
    fn nfkc_comes_first() {
        // `é` typed as e + combining acute (as macOS file names have it)
        // and as one code point are one room.
        assert_eq!(typed("E\u{301}mile-et-Zoe\u{301}"), typed("Émile-et-Zoé"));
        // Compatibility forms: the ligature ﬁ, superscript two, the ohm sign.
        assert_eq!(typed("ﬁre-room"), Ok("fire-room".into()));
        assert_eq!(typed("room²"), Ok("room2".into()));
        assert_eq!(typed("Ω-room"), typed("ω-room"));
        // A no-break space and an ideographic space are spaces after NFKC.
        assert_eq!(
            typed("Alice\u{a0}and\u{3000}Bob"),
            Ok("alice-and-bob".into())
        );
    }

    #[test]
    fn lowercase_follows_unicode() {
        assert_eq!(typed("ÉCOLE"), Ok("école".into()));
        assert_eq!(typed("ΣΟΦΙΑ"), Ok("σοφια".into()));
        assert_eq!(typed("СОФИЯ"), Ok("софия".into()));
    }

    #[test]
    fn spaces_underscores_and_dots_become_one_dash() {
        assert_eq!(typed("Alice and Bob"), Ok("alice-and-bob".into()));
        assert_eq!(typed("alice_and_bob"), Ok("alice-and-bob".into()));
        assert_eq!(typed("alice.and.bob"), Ok("alice-and-bob".into()));
        assert_eq!(typed("alice -_. and---bob"), Ok("alice-and-bob".into()));
        assert_eq!(typed("  --alice-bob.. "), Ok("alice-bob".into()));
    }

    #[test]
    fn other_characters_are_refused_by_name() {
        assert_eq!(typed("alice/bob"), Err(RoomNameError::Character('/')));
        assert_eq!(typed("alice+bob"), Err(RoomNameError::Character('+')));
        assert_eq!(typed("alice\tbob"), Err(RoomNameError::Character('\t')));
        assert_eq!(typed("ça?va"), Err(RoomNameError::Character('?')));
        assert_eq!(typed("emoji-😀"), Err(RoomNameError::Character('😀')));
        // Letters of every script are letters.
        assert_eq!(typed("東京-会議"), Ok("東京-会議".into()));
        assert_eq!(typed("٣-رجال"), Ok("٣-رجال".into()));
    }

    #[test]
    fn lengths_count_characters_after_normalising() {
        assert_eq!(typed("ab"), Err(RoomNameError::TooShort { chars: 2 }));
        assert_eq!(typed("-a-b-"), Ok("a-b".into()));
        assert_eq!(typed("--ab--"), Err(RoomNameError::TooShort { chars: 2 }));
        assert_eq!(typed(""), Err(RoomNameError::TooShort { chars: 0 }));
        assert_eq!(typed("ééé"), Ok("ééé".into()), "3 characters, 6 bytes");
        let max = "é".repeat(64);
        assert_eq!(typed(&max), Ok(max.clone()), "64 characters, 128 bytes");
        assert_eq!(
            typed(&"é".repeat(65)),
            Err(RoomNameError::TooLong { chars: 65 })
        );
        // Dashes that collapse do not count.
        assert_eq!(
            typed(&format!("{}--x", "a".repeat(62))).map(|n| n.chars().count()),
            Ok(64)
        );
    }

    #[test]
    fn reserved_names_are_refused_however_written() {
        for (input, reserved) in [
            ("metrics", "metrics"),
            ("Healthz", "healthz"),
            ("STATIC", "static"),
            ("api", "api"),
            ("favicon.ico", "favicon-ico"),
            ("robots.txt", "robots-txt"),
            (".well-known", "well-known"),
        ] {
            assert_eq!(
                typed(input),
                Err(RoomNameError::Reserved(reserved.into())),
                "{input}"
            );
        }
        assert_eq!(typed("ws"), Err(RoomNameError::TooShort { chars: 2 }));
        assert_eq!(typed("metrics-2"), Ok("metrics-2".into()));
    }

    #[test]
    fn parse_takes_only_the_canonical_form() {
        for ok in [
            "abc",
            "quiet-otter-42",
            "a-b",
            "émile-et-zoé",
            &"x".repeat(64),
        ] {
            assert_eq!(RoomName::parse(ok).map(|n| n.0), Ok(ok.to_owned()), "{ok}");
        }
        let not = |s: &str, canonical: &str| {
            assert_eq!(
                RoomName::parse(s),
                Err(RoomNameError::NotCanonical {
                    canonical: RoomName(canonical.into())
                }),
                "{s}"
            );
        };
        not("Alice-and-Bob", "alice-and-bob");
        not("-abc", "abc");
        not("a--b", "a-b");
        not("a_b", "a-b");
        not("E\u{301}mile", "émile");
        not("ＡＢＣ", "abc");
        assert_eq!(
            RoomName::parse("ab"),
            Err(RoomNameError::TooShort { chars: 2 })
        );
        assert_eq!(RoomName::parse("a/b"), Err(RoomNameError::Character('/')));
        assert_eq!(
            RoomName::parse("metrics"),
            Err(RoomNameError::Reserved("metrics".into()))
        );
    }

    #[test]
    fn the_wire_carries_only_canonical_names() {
        let name: RoomName = serde_json::from_str("\"émile-et-zoé\"").expect("canonical");
        assert_eq!(
            serde_json::to_string(&name).expect("json"),
            "\"émile-et-zoé\""
        );
        assert!(serde_json::from_str::<RoomName>("\"Émile-et-Zoé\"").is_err());
    }

    #[test]
    fn path_segments_are_percent_encoded_utf8() {
        let name = RoomName::from_path_segment("%C3%89mile-et-Zo%C3%A9").expect("a name");
        assert_eq!(name.as_str(), "émile-et-zoé");
        assert_eq!(name.path_segment(), "%C3%A9mile-et-zo%C3%A9");
        assert_eq!(
            RoomName::from_path_segment(&name.path_segment()),
            Ok(name.clone())
        );
        // Lower-case hex digits decode the same; the segment is upper case.
        assert_eq!(
            RoomName::from_path_segment("%c3%a9mile-et-zo%c3%a9"),
            Ok(name)
        );
        let ascii = RoomName::from_path_segment("Alice-and-Bob-03-May-2020").expect("a name");
        assert_eq!(ascii.path_segment(), "alice-and-bob-03-may-2020");
        assert_eq!(
            RoomName::from_path_segment("alice%20and%20bob").map(|n| n.0),
            Ok("alice-and-bob".into())
        );
        assert_eq!(
            RoomName::from_path_segment("a%2Fb%2Fc"),
            Err(RoomNameError::Character('/'))
        );
        assert_eq!(
            RoomName::from_path_segment("abc%FF"),
            Err(RoomNameError::NotUtf8)
        );
    }

    /// The examples of spec §1, "Normalising a name", as a table of
    /// `| typed | canonical |` rows (or `refused: ...`).
    #[test]
    fn the_spec_examples_normalise_as_written() {
        let spec = include_str!("../../../spec/protocol.md");
        let table = spec
            .split_once("| typed | canonical |")
            .expect("the table in spec §1")
            .1;
        let mut rows = 0;
        for line in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (typed_cell, canonical) = (cells[1], cells[2]);
            let input = typed_cell.trim_matches('`');
            match canonical.strip_prefix('`') {
                Some(c) => assert_eq!(
                    typed(input).as_deref(),
                    Ok(c.trim_end_matches('`')),
                    "{line}"
                ),
                None => assert!(typed(input).is_err(), "{line}"),
            }
            rows += 1;
        }
        assert_eq!(rows, 7);
    }

    /// Every canonical name is its own canonical form, whatever character
    /// it was made from: otherwise a client could compute a name that the
    /// server refuses, or the server redirect a room's path for ever.
    #[test]
    fn every_character_normalises_to_a_fixed_point() {
        let mut names = 0;
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            for input in [
                format!("ab{c}"),
                format!("{c}ab"),
                format!("A{c}\u{301}b"),
                format!("A{c}\u{345}b"),
            ] {
                if let Ok(name) = RoomName::from_typed(&input) {
                    names += 1;
                    assert_eq!(
                        RoomName::parse(name.as_str()),
                        Ok(name.clone()),
                        "{input:?} -> {name:?}"
                    );
                    assert_eq!(
                        RoomName::from_path_segment(&name.path_segment()),
                        Ok(name.clone())
                    );
                }
            }
        }
        assert!(names > 100_000, "{names}");
    }
}
