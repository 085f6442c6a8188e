//! libFuzzer entry point of fuzz target `frame_decoder`; the body, its input
//! format and its checks are `peerlink_fuzz::frame_decoder` (`src/frame_decoder.rs`), which
//! the corpus replay (`tests/replay.rs`) runs on stable Rust too.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| peerlink_fuzz::frame_decoder::run(data));
