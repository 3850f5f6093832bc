//! The SFrame cipher suites, RFC 9605 §4.5 and §8.1.

use super::Error;

/// A registered SFrame cipher suite (RFC 9605 §8.1).
///
/// sotto uses [`CipherSuite::AesGcm128Sha256`] (the [`Default`]); the others
/// are implemented so that the crate is a complete RFC 9605 implementation
/// and passes all of its test vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CipherSuite {
    /// 0x0001 AES_128_CTR_HMAC_SHA256_80
    AesCtr128HmacSha256Tag80,
    /// 0x0002 AES_128_CTR_HMAC_SHA256_64
    AesCtr128HmacSha256Tag64,
    /// 0x0003 AES_128_CTR_HMAC_SHA256_32
    AesCtr128HmacSha256Tag32,
    /// 0x0004 AES_128_GCM_SHA256_128
    #[default]
    AesGcm128Sha256,
    /// 0x0005 AES_256_GCM_SHA512_128
    AesGcm256Sha512,
}

/// Hash function used by a suite for HKDF (and HMAC in the CTR suites).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha512,
}

impl CipherSuite {
    /// Every registered suite, in registry order.
    pub const ALL: [CipherSuite; 5] = [
        CipherSuite::AesCtr128HmacSha256Tag80,
        CipherSuite::AesCtr128HmacSha256Tag64,
        CipherSuite::AesCtr128HmacSha256Tag32,
        CipherSuite::AesGcm128Sha256,
        CipherSuite::AesGcm256Sha512,
    ];

    /// The suite's registry value.
    pub fn id(self) -> u16 {
        match self {
            CipherSuite::AesCtr128HmacSha256Tag80 => 0x0001,
            CipherSuite::AesCtr128HmacSha256Tag64 => 0x0002,
            CipherSuite::AesCtr128HmacSha256Tag32 => 0x0003,
            CipherSuite::AesGcm128Sha256 => 0x0004,
            CipherSuite::AesGcm256Sha512 => 0x0005,
        }
    }

    /// The suite with registry value `id`.
    pub fn from_id(id: u16) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|s| s.id() == id)
            .ok_or(Error::UnknownCipherSuite(id))
    }

    /// `Nk`: size of the AEAD key in bytes (Table 1). For the CTR suites it
    /// is the compound key `Nka + Nh`.
    pub fn nk(self) -> usize {
        match self {
            CipherSuite::AesGcm128Sha256 => 16,
            CipherSuite::AesGcm256Sha512 => 32,
            _ => 48,
        }
    }

    /// `Nn`: size of the nonce in bytes; 12 for every registered suite.
    pub fn nn(self) -> usize {
        12
    }

    /// `Nt`: size of the authentication tag in bytes.
    pub fn nt(self) -> usize {
        match self {
            CipherSuite::AesCtr128HmacSha256Tag80 => 10,
            CipherSuite::AesCtr128HmacSha256Tag64 => 8,
            CipherSuite::AesCtr128HmacSha256Tag32 => 4,
            CipherSuite::AesGcm128Sha256 | CipherSuite::AesGcm256Sha512 => 16,
        }
    }

    /// `Nh`: output size of the suite's hash in bytes.
    pub fn nh(self) -> usize {
        match self.hash() {
            Hash::Sha256 => 32,
            Hash::Sha512 => 64,
        }
    }

    pub(crate) fn hash(self) -> Hash {
        match self {
            CipherSuite::AesGcm256Sha512 => Hash::Sha512,
            _ => Hash::Sha256,
        }
    }

    /// The suite's name as written in the registry.
    pub fn name(self) -> &'static str {
        match self {
            CipherSuite::AesCtr128HmacSha256Tag80 => "AES_128_CTR_HMAC_SHA256_80",
            CipherSuite::AesCtr128HmacSha256Tag64 => "AES_128_CTR_HMAC_SHA256_64",
            CipherSuite::AesCtr128HmacSha256Tag32 => "AES_128_CTR_HMAC_SHA256_32",
            CipherSuite::AesGcm128Sha256 => "AES_128_GCM_SHA256_128",
            CipherSuite::AesGcm256Sha512 => "AES_256_GCM_SHA512_128",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_roundtrip_and_unknown_ids_are_refused() {
        for s in CipherSuite::ALL {
            assert_eq!(CipherSuite::from_id(s.id()), Ok(s));
        }
        for id in [0x0000, 0x0006, 0xf000, 0xffff] {
            assert_eq!(CipherSuite::from_id(id), Err(Error::UnknownCipherSuite(id)));
        }
    }

    #[test]
    fn default_is_aes_128_gcm() {
        assert_eq!(CipherSuite::default().id(), 0x0004);
    }
}
