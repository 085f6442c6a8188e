//! Corpus replay without a fuzzer: every file of a corpus directory through
//! a target's `run` function (the body of its `fuzz_target!`), each under
//! `catch_unwind`, so one failing input is reported by name and the others
//! still run. This is what CI runs on stable Rust (`tests/replay.rs`);
//! `cargo fuzz` is for finding new inputs.

use std::fs;
use std::io;
use std::panic;
use std::path::{Path, PathBuf};

/// A fuzz target: its corpus directory name under `corpus/` and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target of this crate, by the name of its `fuzz_targets/` file.
pub const TARGETS: [Target; 2] = [
    ("frame_decoder", crate::frame_decoder::run),
    ("handshake_stream", crate::handshake_stream::run),
];

/// One input the target panicked on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The corpus file.
    pub path: PathBuf,
    /// The panic message (empty when the payload was not a string).
    pub message: String,
}

/// What a replay of one directory saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replay {
    /// Files run through the target.
    pub files: usize,
    /// Files on which the target panicked, in file-name order.
    pub failures: Vec<Failure>,
}

/// Runs every regular file of `dir`, in file-name order, through `target`.
/// Fails only when the directory or a file cannot be read.
pub fn replay_dir(dir: &Path, target: fn(&[u8])) -> io::Result<Replay> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            paths.push(entry.path());
        }
    }
    paths.sort();
    let mut replay = Replay::default();
    for path in paths {
        let data = fs::read(&path)?;
        replay.files += 1;
        if let Err(payload) = panic::catch_unwind(|| target(&data)) {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            replay.failures.push(Failure { path, message });
        }
    }
    Ok(replay)
}
