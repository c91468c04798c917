//! The random factor of each delay, from a seed the caller gives: the bindings seed it from
//! std's keyed hash, the tests with a constant so that every delay is known.

use std::time::Duration;

use crate::policy::{scale, JITTER};

/// xorshift64*: fast, and plenty for spreading requests out.
#[derive(Clone, Debug)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    /// A generator from `seed` (any value: zero, which xorshift cannot leave, is made odd).
    pub fn new(seed: u64) -> Jitter {
        Jitter { state: seed | 1 }
    }

    /// A factor in [1 - JITTER, 1 + JITTER).
    pub fn factor(&mut self) -> f64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let word = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let unit = (word >> 11) as f64 / (1u64 << 53) as f64;
        1.0 + JITTER * (2.0 * unit - 1.0)
    }

    /// `delay` times the next factor.
    pub fn apply(&mut self, delay: Duration) -> Duration {
        let factor = self.factor();
        scale(delay, factor)
    }
}
