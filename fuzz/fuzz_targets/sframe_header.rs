//! Header decoding never panics, and whatever decodes is canonical:
//! re-encoding gives back exactly the bytes that were consumed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_crypto::sframe::Header;

fuzz_target!(|data: &[u8]| {
    if let Ok((header, len)) = Header::decode(data) {
        assert!(len <= data.len());
        assert_eq!(header.encode().as_bytes(), &data[..len]);
        assert_eq!(header.encoded_len(), len);
    }
});
