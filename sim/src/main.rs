//! `peerlink-sim`: the testbed's command line. `run` sweeps scenarios over
//! seeds, `replay` prints one run's trace, `catalog` runs the bug catalog,
//! `check-determinism` proves seeds replay identically; `export`, `snapshot`
//! and `shrink` work with scenario files. Exit 0: all passed; 1: an
//! invariant broke; 2: bad arguments or a bad scenario file.

mod cli;
mod cli_files;

fn main() {
    // A reader that stops early (`peerlink-sim replay ... | head`) closes
    // the pipe; with SIGPIPE at its default the program ends quietly, as
    // command-line tools do, instead of panicking in `println!` (Rust
    // ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: the first statement of main, before any thread is spawned;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(cli::main());
}
