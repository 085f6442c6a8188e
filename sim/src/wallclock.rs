//! The simulator's only wall clock: it measures how fast runs go (simulated
//! seconds per wall second) for reports and never feeds a simulation.

/// A stopwatch.
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    /// Starts now.
    #[allow(clippy::disallowed_methods)] // measuring speed only; see module doc
    pub fn start() -> Self {
        Stopwatch(std::time::Instant::now())
    }

    /// Seconds since start.
    pub fn secs(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}
