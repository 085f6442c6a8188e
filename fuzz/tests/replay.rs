//! The committed corpus passes every fuzz target's checks, replayed on
//! stable Rust without libFuzzer (CI: `cargo test --manifest-path
//! fuzz/Cargo.toml --no-default-features`), and the replay reports a
//! failing input by name instead of stopping at it.

use std::fs;
use std::path::{Path, PathBuf};

use peerlink_fuzz::replay::{replay_dir, Failure, Replay, TARGETS};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// Every file of `corpus/<target>/` (the committed `seed-*` files and any a
/// local fuzz run added) runs through its target without a failed check.
#[test]
fn every_corpus_file_passes_its_target() {
    for (name, target) in TARGETS {
        let replay = replay_dir(&corpus(name), target).expect("corpus readable");
        println!("{name}: replayed {} corpus files", replay.files);
        assert_eq!(replay.failures, [], "{name}");
        let seeds = fs::read_dir(corpus(name))
            .expect("corpus readable")
            .filter(|e| {
                let name = e.as_ref().expect("entry").file_name();
                name.to_string_lossy().starts_with("seed-")
            })
            .count();
        assert!(seeds > 0, "{name}: no committed seed-* file");
        assert!(replay.files >= seeds, "{name}: {} < {seeds}", replay.files);
    }
}

/// A target that panics on one input: the replay runs every file, and
/// reports exactly that one, with its panic message.
#[test]
fn a_panicking_input_is_reported() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("replay-reports-panic");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("temp dir");
    fs::write(dir.join("a-fine"), [1, 2]).expect("write");
    fs::write(dir.join("b-bad"), [0xff]).expect("write");
    fs::write(dir.join("c-fine"), []).expect("write");
    fn target(data: &[u8]) {
        assert!(!data.contains(&0xff), "planted failure: byte 0xff");
    }
    let replay = replay_dir(&dir, target).expect("dir readable");
    assert_eq!(
        replay,
        Replay {
            files: 3,
            failures: vec![Failure {
                path: dir.join("b-bad"),
                message: "planted failure: byte 0xff".to_string(),
            }],
        }
    );
}

/// A corpus directory that does not exist is an error, not an empty pass.
#[test]
fn a_missing_corpus_is_an_error() {
    let missing = corpus("no-such-target");
    assert_eq!(
        replay_dir(&missing, |_| {}).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::NotFound)
    );
}
