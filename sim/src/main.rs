//! `peerlink-sim`: the testbed's command line. `run` sweeps scenarios over
//! seeds, `replay` prints one run's trace, `catalog` runs the bug catalog,
//! `check-determinism` proves seeds replay identically; `export`, `snapshot`
//! and `shrink` work with scenario files. Exit 0: all passed; 1: an
//! invariant broke; 2: bad arguments or a bad scenario file.

mod cli;
mod cli_files;

fn main() {
    std::process::exit(cli::main());
}
