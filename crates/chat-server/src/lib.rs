//! dgram's chat service will live here (the chat issue): rooms, direct messages and presence
//! over reliable sessions. Until then this crate builds and holds nothing, and there is no
//! `chat-server` binary, so nothing pretends to serve chat.
#![forbid(unsafe_code)]
