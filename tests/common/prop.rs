//! Settings shared by the property tests (`tests/proptest_*.rs`).

use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};

/// 1024 cases per property; a failing case is saved (shrunk) to
/// `tests/proptest-regressions/<test file name>.txt`, so each file keeps its
/// own, and replayed first on the next run.
pub fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            "tests/proptest-regressions/",
            env!("CARGO_CRATE_NAME"),
            ".txt"
        )))),
        ..ProptestConfig::with_cases(1024)
    }
}
