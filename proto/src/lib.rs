//! Signalling message types shared by the server and the native client.
