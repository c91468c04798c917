//! When a job is polled next: the interval grows while its status stays the same and resets
//! when it changes, failures back off, a server's `Retry-After` is obeyed, and a job is given up
//! after too many failures or rejected bodies in a row. Pure functions of their inputs: the
//! random factor and the wall clock come from the caller.

use std::time::{Duration, SystemTime};

/// The factor the interval grows by while a job's status stays the same.
pub const GROWTH: f64 = 1.5;
/// Each delay is drawn from ±10% around its value, so that jobs added together spread out.
pub const JITTER: f64 = 0.1;
/// No delay, not even one a server asks for, is longer.
pub const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);

/// The settings of the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The first interval, and the interval after each change of status.
    pub interval: Duration,
    /// The longest interval growth reaches, and the longest backoff.
    pub max_interval: Duration,
    /// Failures (or rejected bodies) in a row that are retried; one more gives the job up.
    pub max_retries: u32,
}

impl Policy {
    /// The interval after an answer that did not change the status.
    pub fn grown(&self, interval: Duration) -> Duration {
        scale(interval, GROWTH).min(self.max_interval)
    }

    /// The interval after an answer: the base one after a change, else the grown one.
    pub fn next_interval(&self, interval: Duration, changed: bool) -> Duration {
        if changed {
            self.interval
        } else {
            self.grown(interval)
        }
    }

    /// The delay before retrying after `failures` failures in a row (from 1): the interval
    /// doubled for each failure after the first, capped at `max_interval`; before jitter.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exponent = i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX);
        scale(self.interval, 2f64.powi(exponent)).min(self.max_interval)
    }

    /// Whether `in_a_row` failures (or rejected bodies) give the job up.
    pub fn gives_up(&self, in_a_row: u32) -> bool {
        in_a_row > self.max_retries
    }
}

/// `delay * factor`, saturating at `MAX_DELAY` (`Duration::mul_f64` panics on overflow).
pub fn scale(delay: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(delay.as_secs_f64() * factor).unwrap_or(MAX_DELAY)
}

/// A readable `Retry-After` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// delay-seconds.
    Seconds(u64),
    /// An HTTP date.
    Date(SystemTime),
}

impl RetryAfter {
    /// The header's value, or `None` for one that is neither form (garbage, a negative
    /// number): the caller then backs off as after any failure.
    pub fn parse(text: &str) -> Option<RetryAfter> {
        let text = text.trim();
        if let Ok(seconds) = text.parse::<u64>() {
            return Some(RetryAfter::Seconds(seconds));
        }
        httpdate::parse_http_date(text).ok().map(RetryAfter::Date)
    }

    /// The delay it asks for at the wall-clock time `now`: a date passed is no delay, and no
    /// delay is longer than `MAX_DELAY`.
    pub fn delay(self, now: SystemTime) -> Duration {
        let delay = match self {
            RetryAfter::Seconds(seconds) => Duration::from_secs(seconds),
            RetryAfter::Date(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        };
        delay.min(MAX_DELAY)
    }
}
