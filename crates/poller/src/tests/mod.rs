//! The engine's tests, with no interpreter: the policy asserted exactly on the state (injected
//! instants, a seeded jitter), and the scheduler end to end in tokio's paused time with a
//! scripted server.

mod http;
mod policy;
mod schedule;
mod settle;
mod thread;
mod wait;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use iqm_runstatus_core::columns::Entry;
use iqm_runstatus_core::status::{StatusCode, Vocabulary};
use iqm_runstatus_core::Error as CoreError;
use reqwest::header::HeaderMap;

use crate::engine::Settings;
use crate::policy::Policy;
use crate::settle::Record;

pub(crate) const SEED: u64 = 0x5EED_1234_ABCD_0001;

pub(crate) const STATUSES: [&str; 6] = [
    "received",
    "pending execution",
    "compiling",
    "ready",
    "failed",
    "aborted",
];

/// The vocabulary, for the life of the test process.
pub(crate) fn vocabulary() -> &'static Vocabulary {
    static VOCABULARY: std::sync::OnceLock<Vocabulary> = std::sync::OnceLock::new();
    VOCABULARY.get_or_init(|| {
        match Vocabulary::new(STATUSES, |value| {
            matches!(value, b"ready" | b"failed" | b"aborted")
        }) {
            Ok(vocabulary) => vocabulary,
            Err(err) => unreachable!("{err}"),
        }
    })
}

pub(crate) fn code(value: &str) -> StatusCode {
    vocabulary()
        .code_of(value.as_bytes())
        .unwrap_or_else(|| unreachable!("{value} is in the vocabulary"))
}

/// A body answering `status`.
pub(crate) fn body(status: &str) -> Vec<u8> {
    format!("{{\"status\": \"{status}\"}}").into_bytes()
}

/// The wall clock of the tests: 2015-10-21 07:28:00 UTC.
pub(crate) fn fixed_wall_clock() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480)
}

pub(crate) const INTERVAL: Duration = Duration::from_secs(1);
pub(crate) const MAX_INTERVAL: Duration = Duration::from_secs(30);
pub(crate) const MAX_RETRIES: u32 = 3;

pub(crate) fn settings(has_provider: bool) -> Settings {
    Settings {
        base: "http://status.invalid".to_owned(),
        concurrency: 4,
        timeout: Duration::from_secs(10),
        max_body_size: 64,
        headers: HeaderMap::new(),
        policy: Policy {
            interval: INTERVAL,
            max_interval: MAX_INTERVAL,
            max_retries: MAX_RETRIES,
        },
        has_provider,
        wall_clock: fixed_wall_clock,
    }
}

/// The tracker: the latest status of each job, a change whenever the status differs.
#[derive(Default)]
pub(crate) struct Statuses(Mutex<HashMap<String, StatusCode>>);

impl Statuses {
    pub(crate) fn status(&self, id: &str) -> Option<StatusCode> {
        self.0.lock().ok()?.get(id).copied()
    }
}

impl Record for Arc<Statuses> {
    fn record(&self, id: &str, entry: &Entry<'_>) -> Result<Option<Option<StatusCode>>, CoreError> {
        let mut statuses = self.0.lock().map_err(|_| CoreError::BadState("poisoned"))?;
        let previous = statuses.insert(id.to_owned(), entry.status);
        Ok((previous != Some(entry.status)).then_some(previous))
    }
}
