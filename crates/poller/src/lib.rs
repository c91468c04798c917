//! The engine of `iqm_runstatus`'s `StatusPoller`, without Python: it polls
//! `GET {base}/jobs/{id}/status` for many jobs from one network thread and feeds each body to
//! the core's parser; the bindings add the Python class on top.
//!
//! - `policy`: when a job is polled next (growth ×1.5 while the status stays the same, reset
//!   on a change, ±10% jitter, failures backed off by doubling, `Retry-After`, give-up).
//! - `rng`: the seeded source of the jitter.
//! - `state` and `settle`: every job's phase and schedule, and what an answer does to them;
//!   transitions are coalesced per job, so memory is bounded by the number of jobs.
//! - `http`: one request, and the id as exactly one path segment.
//! - `engine` and `runtime`: the state behind one mutex, the network thread (started lazily,
//!   told apart from a `fork` child's copy), the scheduler and `close`.
//! - `consumer`: what the bindings ask of it, `wait`'s scans and wake-ups among it (only
//!   once enough jobs settled, not on every answer). The lock is held for plain Rust work only.
//! - `wakeup`: the descriptor an event loop watches for news (`async for`).
//!
//! Time is tokio's clock (`tokio::time::Instant`), so tests run the scheduler in paused time;
//! the wall clock that `Retry-After` dates are read against, the jitter's seed and the fetcher
//! are given by the caller.

mod consumer;
mod engine;
mod error;
mod http;
pub mod policy;
pub mod rng;
mod runtime;
mod settle;
mod state;
mod wakeup;

#[cfg(test)]
mod tests;

pub use consumer::{Progress, Service, Summary, Waiting};
pub use engine::{Engine, Settings, MAX_CONCURRENCY};
pub use error::{Error, Failure};
pub use http::{is_path_segment, path_segment, Fetch, Fetched, HttpFetcher};
pub use policy::{Policy, RetryAfter};
/// The header types of the settings and of `finish_refresh`, and the URL type the base URL is
/// checked with.
pub use reqwest::{header, Url};
pub use settle::{Record, TOO_LARGE};
pub use state::{Fallback, Phase, Rejection, Stats, Transition};
