//! The wire-protocol conformance suite (`tests/conformance/`) against the
//! real `peerlink-node` binary: the Python runner starts a fresh node
//! process per case, speaks to it in raw bytes, and must report every case
//! passed. The runner uses no peerlink code; this test only hands it the
//! binary and checks its verdict.

use std::path::PathBuf;
use std::process::Command;

/// Every case in `tests/conformance/cases/` passes against `peerlink-node`:
/// the runner exits 0 and reports exactly as many passes as there are case
/// files, and no failure.
#[test]
fn every_conformance_case_passes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("tests/conformance");
    let cases = std::fs::read_dir(dir.join("cases"))
        .expect("tests/conformance/cases")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
        })
        .count();
    assert!(cases >= 30, "only {cases} conformance cases");
    let out = Command::new("python3")
        .arg(dir.join("run.py"))
        .arg("--node")
        .arg(env!("CARGO_BIN_EXE_peerlink-node"))
        .env_remove("RUST_LOG")
        .output()
        .expect("python3 runs tests/conformance/run.py (the runner needs Python 3.11)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    let summary = stdout.lines().find(|l| l.contains(" cases in "));
    let expected = format!("{cases} passed, 0 failed, {cases} cases in ");
    assert!(
        summary.is_some_and(|s| s.starts_with(&expected)),
        "expected a summary starting {expected:?}, got {summary:?}"
    );
    assert_eq!(out.status.code(), Some(0), "runner exit status");
}
