//! The SFrame header, RFC 9605 §4.3.
//!
//! ```text
//!  0 1 2 3 4 5 6 7
//! +-+-+-+-+-+-+-+-+------------+------------+
//! |X|  K  |Y|  C  |   KID...   |   CTR...   |
//! +-+-+-+-+-+-+-+-+------------+------------+
//! ```
//!
//! Values 0..=7 live in the config byte; larger ones follow it, big-endian,
//! in the minimum number of bytes (1..=8), KID first. Decoding refuses any
//! encoding another implementation would not have produced, so one frame
//! has exactly one header.

use std::fmt;

/// Longest possible header: config byte, 8-byte KID, 8-byte CTR.
pub const MAX_HEADER_LEN: usize = 17;

/// An SFrame key identifier (KID).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub u64);

/// An SFrame counter (CTR), unique per KID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Counter(pub u64);

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KID 0x{:x}", self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CTR {}", self.0)
    }
}

impl fmt::Display for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Why a header did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The input ends before the header does.
    #[error("header truncated: needs {needed} bytes, got {got}")]
    Truncated {
        /// Bytes the config byte announces.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// A value was not encoded in the minimum number of bytes (RFC 9605
    /// §4.3: "MUST be encoded with the minimum number of bytes").
    #[error("non-minimal encoding of the {0}")]
    NonMinimal(Field),
}

/// The two variable-length header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The key id.
    Kid,
    /// The counter.
    Ctr,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Kid => "KID",
            Field::Ctr => "CTR",
        })
    }
}

/// A decoded SFrame header: which key, which counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Key id.
    pub kid: KeyId,
    /// Counter.
    pub ctr: Counter,
}

/// An encoded header, kept on the stack.
#[derive(Clone, Copy)]
pub struct EncodedHeader {
    bytes: [u8; MAX_HEADER_LEN],
    len: usize,
}

impl EncodedHeader {
    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Bytes needed to write `v` big-endian without leading zeros (1..=8).
fn byte_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(8).max(1)
}

impl Header {
    /// A header for `kid` and `ctr`.
    pub fn new(kid: KeyId, ctr: Counter) -> Self {
        Header { kid, ctr }
    }

    /// The minimal encoding of this header.
    pub fn encode(&self) -> EncodedHeader {
        let mut bytes = [0u8; MAX_HEADER_LEN];
        let mut len = 1;
        let mut config = 0u8;
        for (value, shift) in [(self.kid.0, 4), (self.ctr.0, 0)] {
            if value < 8 {
                config |= (value as u8) << shift;
            } else {
                let n = byte_len(value);
                // Extended flag plus length minus one in the 3-bit field.
                config |= (0b1000 | (n as u8 - 1)) << shift;
                bytes[len..len + n].copy_from_slice(&value.to_be_bytes()[8 - n..]);
                len += n;
            }
        }
        bytes[0] = config;
        EncodedHeader { bytes, len }
    }

    /// Length of the encoding of this header, in bytes.
    pub fn encoded_len(&self) -> usize {
        let field = |v: u64| if v < 8 { 0 } else { byte_len(v) };
        1 + field(self.kid.0) + field(self.ctr.0)
    }

    /// Decodes the header at the start of `buf`; returns it and its length.
    pub fn decode(buf: &[u8]) -> Result<(Header, usize), HeaderError> {
        let Some(&config) = buf.first() else {
            return Err(HeaderError::Truncated { needed: 1, got: 0 });
        };
        let kid_nibble = config >> 4;
        let ctr_nibble = config & 0x0f;
        let extra = |nibble: u8| {
            if nibble & 0b1000 != 0 {
                (nibble & 0b0111) as usize + 1
            } else {
                0
            }
        };
        let (kid_len, ctr_len) = (extra(kid_nibble), extra(ctr_nibble));
        let needed = 1 + kid_len + ctr_len;
        if buf.len() < needed {
            return Err(HeaderError::Truncated {
                needed,
                got: buf.len(),
            });
        }
        let read = |nibble: u8, bytes: &[u8], field: Field| -> Result<u64, HeaderError> {
            if bytes.is_empty() {
                return Ok(u64::from(nibble & 0b0111));
            }
            // Minimal means: no leading zero byte, and no value that would
            // have fit in the config byte.
            if bytes[0] == 0 {
                return Err(HeaderError::NonMinimal(field));
            }
            let value = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            if value < 8 {
                return Err(HeaderError::NonMinimal(field));
            }
            Ok(value)
        };
        let kid = read(kid_nibble, &buf[1..1 + kid_len], Field::Kid)?;
        let ctr = read(ctr_nibble, &buf[1 + kid_len..needed], Field::Ctr)?;
        Ok((Header::new(KeyId(kid), Counter(ctr)), needed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(kid: u64, ctr: u64) {
        let h = Header::new(KeyId(kid), Counter(ctr));
        let enc = h.encode();
        assert_eq!(enc.as_bytes().len(), h.encoded_len());
        let (back, len) = Header::decode(enc.as_bytes()).expect("decodes");
        assert_eq!((back, len), (h, enc.as_bytes().len()));
    }

    #[test]
    fn every_length_boundary_roundtrips() {
        let mut values = vec![0u64, 1, 7, 8, u64::MAX];
        for n in 1..8 {
            values.push((1u64 << (8 * n)) - 1);
            values.push(1u64 << (8 * n));
        }
        for &k in &values {
            for &c in &values {
                roundtrip(k, c);
            }
        }
    }

    #[test]
    fn longest_header_is_17_bytes() {
        let h = Header::new(KeyId(u64::MAX), Counter(u64::MAX));
        assert_eq!(h.encode().as_bytes().len(), MAX_HEADER_LEN);
    }

    #[test]
    fn empty_and_truncated_inputs_are_errors() {
        assert_eq!(
            Header::decode(&[]),
            Err(HeaderError::Truncated { needed: 1, got: 0 })
        );
        // X=1, KLEN=1 (2 bytes), Y=1, CLEN=0 (1 byte): 4 bytes needed.
        assert_eq!(
            Header::decode(&[0x98, 0x01]),
            Err(HeaderError::Truncated { needed: 4, got: 2 })
        );
    }

    #[test]
    fn non_minimal_encodings_are_refused() {
        // KID 5 written in an extra byte instead of the config byte.
        assert_eq!(
            Header::decode(&[0x80, 0x05]),
            Err(HeaderError::NonMinimal(Field::Kid))
        );
        // CTR 0x0100 written in three bytes with a leading zero.
        assert_eq!(
            Header::decode(&[0x0a, 0x00, 0x01, 0x00]),
            Err(HeaderError::NonMinimal(Field::Ctr))
        );
        // CTR 7 in an extra byte.
        assert_eq!(
            Header::decode(&[0x08, 0x07]),
            Err(HeaderError::NonMinimal(Field::Ctr))
        );
    }

    #[test]
    fn trailing_bytes_are_left_for_the_caller() {
        let (h, len) = Header::decode(&[0x12, 0xaa, 0xbb]).expect("decodes");
        assert_eq!((h.kid, h.ctr, len), (KeyId(1), Counter(2), 1));
    }
}
