//! libFuzzer entry point of fuzz target `handshake_stream`; the body, its input
//! format and its checks are `peerlink_fuzz::handshake_stream` (`src/handshake_stream.rs`), which
//! the corpus replay (`tests/replay.rs`) runs on stable Rust too.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| peerlink_fuzz::handshake_stream::run(data));
