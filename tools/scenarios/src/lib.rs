//! Scenarios for tactus-core: realistic input clocks with a known truth, the metrics that judge a
//! follower against that truth, and a runner for the Tactus engine. The scenario tests and the
//! `make bench` report both build on this crate.

pub mod baselines;
pub mod metrics;
pub mod scenario;
pub mod sim;
pub mod tactus;

pub use metrics::{evaluate, Metrics};
pub use scenario::{Scenario, ScenarioId};

/// Deterministic xorshift64* generator: scenarios are reproducible without a rand dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is remapped).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next raw value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}
