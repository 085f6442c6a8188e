//! `peerlink-sim`: the deterministic testbed's command line (scenarios land
//! with the simulator issue; this skeleton only proves the crate links).

fn main() {
    eprintln!("peerlink-sim: no scenarios are implemented yet");
    std::process::exit(2);
}
