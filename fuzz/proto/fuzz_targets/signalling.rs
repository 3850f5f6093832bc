//! Signalling parsing, as the server and the native client run it on every
//! WebSocket text frame and link: arbitrary text never panics, errors carry
//! one of the codes spec/protocol.md §5 allows for undecodable input, and
//! whatever decodes re-encodes to a message that decodes to the same value.
//! Room names and links that parse are valid and stable: what a person
//! types normalises to a name that is its own canonical form, in a URL too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_proto::{ErrorCode, RoomLink, RoomName, decode_client, decode_server, encode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match decode_client(text) {
        Ok(m) => {
            let again = decode_client(&encode(&m)).expect("a re-encoded message decodes");
            assert_eq!(again, m);
        }
        Err(e) => assert!(
            matches!(
                e.code,
                ErrorCode::BadMessage | ErrorCode::VersionMismatch | ErrorCode::BadRoomName
            ),
            "{e:?}"
        ),
    }
    match decode_server(text) {
        Ok(m) => {
            let again = decode_server(&encode(&m)).expect("a re-encoded message decodes");
            assert_eq!(again, m);
        }
        Err(e) => assert!(
            matches!(e.code, ErrorCode::BadMessage | ErrorCode::VersionMismatch),
            "{e:?}"
        ),
    }
    if let Ok(name) = RoomName::parse(text) {
        assert_eq!(name.as_str(), text);
        assert_eq!(RoomName::parse(name.as_str()), Ok(name));
    }
    if let Ok(name) = RoomName::from_typed(text) {
        assert_eq!(RoomName::parse(name.as_str()), Ok(name.clone()));
        assert_eq!(RoomName::from_path_segment(&name.path_segment()), Ok(name));
    }
    if let Ok(link) = RoomLink::parse(text) {
        assert_eq!(RoomLink::parse(&link.to_string()).as_ref(), Ok(&link));
        assert_eq!(RoomName::parse(link.room.as_str()), Ok(link.room.clone()));
        let ws = link.websocket_url();
        assert!(ws.starts_with("ws://") || ws.starts_with("wss://"), "{ws}");
        assert!(
            !ws.contains('#'),
            "the secret never goes into the WebSocket URL"
        );
    }
});
