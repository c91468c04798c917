//! `StatusPoller`: polls `GET {base}/jobs/{id}/status` for many jobs from a network loop in
//! Rust, feeding each body to the tracker's parser without the GIL. Python sees transitions.
//!
//! One thread runs a single-threaded tokio runtime with the scheduler and the requests. The
//! schedule, the queue of transitions and the outcome of each job sit behind one mutex that is
//! held for plain Rust work only, so the Python side can lock it with the GIL held. Bodies the
//! fast parser is not certain about, and header refreshes, need Python: the runtime thread never
//! takes the GIL, it queues them, and the thread that iterates or waits handles them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use foldhash::quality::RandomState;
use pyo3::exceptions::{
    PyException, PyKeyError, PyRuntimeError, PyTimeoutError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::pyclass::{PyTraverseError, PyVisit};
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, USER_AGENT};

use crate::convert::entry_from_run_status;
use crate::errors::core_to_py;
use crate::instances::new_named_tuple;
use crate::model::{vocabulary, Model};
use crate::tracker::{
    job_id_list, named_tuple, JobTracker, SharedTracker, TRACKER_ERROR, TRANSITION,
};
use iqm_runstatus_core::columns::{Builder, Entry};
use iqm_runstatus_core::parse::parse_status;
use iqm_runstatus_core::status::StatusCode;
use iqm_runstatus_core::Error as CoreError;

type Map<K, V> = hashbrown::HashMap<K, V, RandomState>;

/// How long a waiting Python thread sleeps between checks for signals (Ctrl-C).
const WAIT_SLICE: Duration = Duration::from_millis(20);
/// The factor the interval grows by while a job's status stays the same.
const GROWTH: f64 = 1.5;
/// Each delay is drawn from ±10% around its value, so that jobs added together spread out.
const JITTER: f64 = 0.1;
/// No delay, not even one a server asks for, is longer.
const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);
/// The most connections (and requests in flight) a poller opens, whatever it is asked for.
const MAX_CONCURRENCY: usize = 4096;
/// The error type name of a body over the size limit, as `TrackerError.error_type`.
const TOO_LARGE: &str = "ResponseTooLarge";

struct Settings {
    /// The base URL without a trailing slash.
    base: String,
    concurrency: usize,
    interval: Duration,
    max_interval: Duration,
    timeout: Duration,
    max_retries: u32,
    max_body_size: usize,
    /// The headers given at construction; a provider's headers replace those of their names.
    headers: HeaderMap,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Polling,
    /// Answered 401 or 403: waits for the Python side to refresh the headers.
    AwaitingAuth,
    /// Added before the provider gave any headers: not polled until it does, so that no
    /// request goes out without them.
    AwaitingHeaders,
    Terminal,
    GivenUp,
}

impl Phase {
    fn is_active(self) -> bool {
        matches!(
            self,
            Phase::Polling | Phase::AwaitingAuth | Phase::AwaitingHeaders
        )
    }
}

struct Job {
    /// Tells this job's schedule entries and requests from those of an earlier add.
    generation: u64,
    phase: Phase,
    in_flight: bool,
    interval: Duration,
    failures: u32,
    /// Bodies rejected in a row (by the size limit or the parser).
    rejections: u32,
    /// Whether the headers were refreshed for this job since its last good answer.
    auth_refreshed: bool,
    polls: u64,
    /// Counts bodies, so that a body handed to Python is not applied after a newer one.
    bodies: u64,
}

/// A body for the pure path, with the job's generation and body count when it arrived.
struct Fallback {
    generation: u64,
    body: u64,
    bytes: Vec<u8>,
}

#[derive(Default)]
struct Stats {
    requests: u64,
    responses: BTreeMap<u16, u64>,
    retries: u64,
    timeouts: u64,
    transport_errors: u64,
    bytes: u64,
    /// Header refreshes whose provider raised or gave unusable headers.
    auth_refresh_failures: u64,
}

/// A job's transitions not yet handed to Python, coalesced: from the status before the first
/// of them to the latest.
struct Pending {
    arrival: u64,
    previous: Option<StatusCode>,
    current: StatusCode,
}

/// (due, order, id, generation): entries of removed or re-added jobs are skipped.
type Due = (Instant, u64, Arc<str>, u64);

struct Inner {
    jobs: Map<Arc<str>, Job>,
    due: BinaryHeap<Reverse<Due>>,
    order: u64,
    generations: u64,
    /// Jobs polling or waiting for new headers.
    active: usize,
    in_flight: usize,
    /// At most one pending transition per job (see `push_transition`), so that the queue is
    /// bounded by the number of jobs when nobody iterates.
    transitions: Map<Arc<str>, Pending>,
    /// Orders the pending transitions by their first arrival.
    arrivals: u64,
    fallbacks: Map<Arc<str>, Fallback>,
    errors: Map<Arc<str>, (String, String)>,
    failed: Map<Arc<str>, String>,
    headers: Arc<HeaderMap>,
    refresh_wanted: bool,
    refreshing: bool,
    /// Whether the provider gave the headers yet (it is first asked on the first `add`).
    primed: bool,
    refresh_at: Option<Instant>,
    closed: bool,
    /// Why the network thread stopped on its own, if it did.
    fatal: Option<String>,
    stats: Stats,
    random: u64,
}

impl Inner {
    /// A factor in [1 - JITTER, 1 + JITTER) (xorshift64*; the seed comes from std's keyed hash).
    fn jitter(&mut self) -> f64 {
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        let word = self.random.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let unit = (word >> 11) as f64 / (1u64 << 53) as f64;
        1.0 + JITTER * (2.0 * unit - 1.0)
    }

    fn jittered(&mut self, delay: Duration) -> Duration {
        let factor = self.jitter();
        scale(delay, factor)
    }

    fn schedule(&mut self, id: &Arc<str>, generation: u64, delay: Duration) {
        let now = Instant::now();
        let at = now.checked_add(delay.min(MAX_DELAY)).unwrap_or(now);
        self.order = self.order.wrapping_add(1);
        self.due
            .push(Reverse((at, self.order, Arc::clone(id), generation)));
    }

    /// Queues the transition `previous -> current` of `id`, merged with one still pending for
    /// it: the consumer sees each job's statuses as a chain (each previous is the current it
    /// was last shown), with the statuses it was too slow to see left out; a job back at the
    /// status it was last shown has no pending transition.
    fn push_transition(
        &mut self,
        id: &Arc<str>,
        previous: Option<StatusCode>,
        current: StatusCode,
    ) {
        if let Some(pending) = self.transitions.get_mut(id) {
            if pending.previous == Some(current) {
                self.transitions.remove(id);
            } else {
                pending.current = current;
            }
            return;
        }
        self.arrivals = self.arrivals.wrapping_add(1);
        self.transitions.insert(
            Arc::clone(id),
            Pending {
                arrival: self.arrivals,
                previous,
                current,
            },
        );
    }

    /// The pending transitions in the order they first arrived.
    fn take_transitions(&mut self) -> Vec<(Arc<str>, Option<StatusCode>, StatusCode)> {
        let mut taken: Vec<_> = self.transitions.drain().collect();
        taken.sort_unstable_by_key(|(_, pending)| pending.arrival);
        taken
            .into_iter()
            .map(|(id, pending)| (id, pending.previous, pending.current))
            .collect()
    }

    fn give_up(&mut self, id: &Arc<str>, reason: String) {
        if let Some(job) = self.jobs.get_mut(id) {
            if job.phase.is_active() {
                self.active = self.active.saturating_sub(1);
            }
            job.phase = Phase::GivenUp;
        }
        self.fallbacks.remove(id);
        self.failed.insert(Arc::clone(id), reason);
    }
}

/// `delay * factor`, saturating (`Duration::mul_f64` panics on overflow).
fn scale(delay: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(delay.as_secs_f64() * factor).unwrap_or(MAX_DELAY)
}

struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the Python threads waiting for transitions.
    changed: Condvar,
    /// Wakes the scheduler.
    wake_loop: tokio::sync::Notify,
    /// A socket pair whose read end an asyncio loop watches; made on first use, closed by
    /// `close`.
    wakeup: Mutex<Option<(UnixStream, UnixStream)>>,
    signalled: AtomicBool,
    /// Whether `RunStatus` validates as the fast parser assumes, checked under the GIL.
    model_current: AtomicBool,
    tracker: SharedTracker,
    settings: Settings,
    has_provider: bool,
}

impl Shared {
    fn lock(&self) -> Option<MutexGuard<'_, Inner>> {
        self.inner.lock().ok()
    }

    /// Tells the Python side that something changed.
    fn announce(&self) {
        self.changed.notify_all();
        if let Ok(pair) = self.wakeup.lock() {
            if let Some((_, writer)) = pair.as_ref() {
                if !self.signalled.swap(true, Ordering::AcqRel) {
                    // A full buffer already wakes the reader.
                    let _ = (&*writer).write(&[1]);
                }
            }
        }
    }

    /// Applies a parsed status of `id`: the tracker, the transition, the schedule. Whether the
    /// Python side has something to see (a transition, a settled job, an error gone).
    fn apply_entry(
        &self,
        inner: &mut Inner,
        id: &Arc<str>,
        entry: &Entry<'_>,
        reschedule: bool,
    ) -> Result<bool, CoreError> {
        let change = self.tracker.record(id, entry)?;
        let cleared = inner.errors.remove(id).is_some();
        let base = self.settings.interval;
        let max = self.settings.max_interval;
        let Some(job) = inner.jobs.get_mut(id) else {
            return Ok(cleared);
        };
        let generation = job.generation;
        let changed = change.is_some();
        job.rejections = 0;
        let terminal = vocabulary().is_some_and(|vocabulary| vocabulary.is_terminal(entry.status));
        if terminal {
            if job.phase.is_active() {
                inner.active = inner.active.saturating_sub(1);
            }
            job.phase = Phase::Terminal;
        } else {
            job.interval = if changed {
                base
            } else {
                scale(job.interval, GROWTH).min(max)
            };
        }
        let interval = job.interval;
        if let Some(previous) = change {
            inner.push_transition(id, previous, entry.status);
        }
        if terminal {
            inner.fallbacks.remove(id);
            return Ok(true);
        }
        if reschedule {
            let delay = inner.jittered(interval);
            inner.schedule(id, generation, delay);
        }
        Ok(changed || cleared)
    }

    /// Handles the end of one request.
    fn settle(&self, id: &Arc<str>, generation: u64, fetched: Fetched) {
        let Some(mut guard) = self.lock() else {
            return;
        };
        let inner = &mut *guard;
        inner.in_flight = inner.in_flight.saturating_sub(1);
        inner.stats.requests += 1;
        match &fetched {
            Fetched::Body(bytes) => {
                *inner.stats.responses.entry(200).or_default() += 1;
                inner.stats.bytes += bytes.len() as u64;
            }
            Fetched::TooLarge { code, .. } | Fetched::Http { code, .. } => {
                *inner.stats.responses.entry(*code).or_default() += 1;
            }
            Fetched::Timeout => inner.stats.timeouts += 1,
            Fetched::Transport(_) => inner.stats.transport_errors += 1,
        }
        let Some(job) = inner.jobs.get_mut(id) else {
            return;
        };
        if job.generation != generation {
            return;
        }
        job.in_flight = false;
        if job.phase != Phase::Polling {
            return;
        }
        let settings = &self.settings;
        match fetched {
            Fetched::Body(bytes) => {
                job.failures = 0;
                job.auth_refreshed = false;
                job.bodies += 1;
                let body = job.bodies;
                let parsed = if self.model_current.load(Ordering::Relaxed) {
                    parse_entry(&bytes)
                } else {
                    None
                };
                // Most answers repeat the last one: the Python side is woken only for news.
                let news = match parsed {
                    Some(builder) => {
                        let dropped = inner.fallbacks.remove(id).is_some();
                        let columns = builder.finish();
                        let applied = match columns.entry(0) {
                            Some(entry) => self.apply_entry(inner, id, &entry, true),
                            None => Err(CoreError::BadState("parsed entry")),
                        };
                        match applied {
                            Ok(visible) => visible || dropped,
                            Err(err) => {
                                inner.give_up(id, format!("the tracker failed: {err}"));
                                true
                            }
                        }
                    }
                    None => {
                        inner.fallbacks.insert(
                            Arc::clone(id),
                            Fallback {
                                generation,
                                body,
                                bytes,
                            },
                        );
                        self.unchanged(inner, id);
                        true
                    }
                };
                if news {
                    self.announce();
                }
            }
            Fetched::TooLarge { code: _, size } => {
                let message = match size {
                    Some(size) => format!(
                        "the response body has {size} bytes, more than the limit of {}",
                        settings.max_body_size
                    ),
                    None => format!(
                        "the response body is longer than the limit of {} bytes",
                        settings.max_body_size
                    ),
                };
                job.failures = 0;
                self.rejected(inner, id, (TOO_LARGE.to_owned(), message), true);
                self.announce();
            }
            Fetched::Http {
                code,
                reason,
                retry_after,
                location,
            } => {
                let what = format!("HTTP {code} {reason}");
                let news = match code {
                    429 | 503 => self.failure(inner, id, what, retry_after),
                    500..=599 => self.failure(inner, id, what, None),
                    404 => {
                        inner.give_up(id, format!("{what}: the server does not know the job"));
                        true
                    }
                    401 | 403 => {
                        if self.has_provider && !job.auth_refreshed {
                            job.phase = Phase::AwaitingAuth;
                            inner.refresh_wanted = true;
                        } else if self.has_provider {
                            inner.give_up(
                                id,
                                format!("{what}: still refused after the headers were refreshed"),
                            );
                        } else {
                            inner.give_up(
                                id,
                                format!("{what}: refused, and there is no client to refresh the headers from"),
                            );
                        }
                        true
                    }
                    300..=399 => {
                        let to = location.as_deref().unwrap_or("no location");
                        inner.give_up(id, format!("{what}: redirects are not followed (to {to})"));
                        true
                    }
                    _ => {
                        inner.give_up(id, format!("{what}: not a status answer"));
                        true
                    }
                };
                if news {
                    self.announce();
                }
            }
            Fetched::Timeout => {
                let what = format!(
                    "no complete response within {:.3} s",
                    settings.timeout.as_secs_f64()
                );
                if self.failure(inner, id, what, None) {
                    self.announce();
                }
            }
            Fetched::Transport(what) => {
                if self.failure(inner, id, what, None) {
                    self.announce();
                }
            }
        }
    }

    /// A body of `id` was rejected: it is the job's error, and the job is given up once more
    /// than `max_retries` bodies in a row were rejected, as after failed requests.
    fn rejected(
        &self,
        inner: &mut Inner,
        id: &Arc<str>,
        error: (String, String),
        reschedule: bool,
    ) {
        let Some(job) = inner.jobs.get_mut(id) else {
            return;
        };
        job.rejections = job.rejections.saturating_add(1);
        let rejections = job.rejections;
        if rejections > self.settings.max_retries {
            let plural = if rejections == 1 { "" } else { "s" };
            let reason = format!(
                "the body was rejected ({rejections} time{plural} in a row): {}: {}",
                error.0, error.1
            );
            inner.errors.insert(Arc::clone(id), error);
            inner.give_up(id, reason);
            return;
        }
        inner.errors.insert(Arc::clone(id), error);
        if reschedule {
            self.unchanged(inner, id);
        }
    }

    /// Reschedules a job whose status did not change (or could not be read yet).
    fn unchanged(&self, inner: &mut Inner, id: &Arc<str>) {
        let max = self.settings.max_interval;
        let Some(job) = inner.jobs.get_mut(id) else {
            return;
        };
        job.interval = scale(job.interval, GROWTH).min(max);
        let (interval, generation) = (job.interval, job.generation);
        let delay = inner.jittered(interval);
        inner.schedule(id, generation, delay);
    }

    /// A failed attempt: retried after a backoff, or given up after too many in a row
    /// (`true`).
    fn failure(
        &self,
        inner: &mut Inner,
        id: &Arc<str>,
        what: String,
        retry_after: Option<Duration>,
    ) -> bool {
        let settings = &self.settings;
        let Some(job) = inner.jobs.get_mut(id) else {
            return false;
        };
        job.failures = job.failures.saturating_add(1);
        if job.failures > settings.max_retries {
            let failures = job.failures;
            let plural = if failures == 1 { "" } else { "s" };
            inner.give_up(id, format!("{what} ({failures} failure{plural} in a row)"));
            return true;
        }
        let generation = job.generation;
        let exponent = i32::try_from(job.failures.saturating_sub(1)).unwrap_or(i32::MAX);
        let backoff = scale(settings.interval, 2f64.powi(exponent)).min(settings.max_interval);
        inner.stats.retries += 1;
        let delay = match retry_after {
            Some(delay) => delay,
            None => inner.jittered(backoff),
        };
        inner.schedule(id, generation, delay);
        false
    }
}

/// The fast parse of one body; `None` when the pure path must decide.
fn parse_entry(bytes: &[u8]) -> Option<Builder> {
    let parsed = parse_status(vocabulary()?, bytes).ok()?;
    let mut builder = Builder::with_capacity(1);
    builder.push_parsed(&parsed).ok()?;
    Some(builder)
}

enum Fetched {
    Body(Vec<u8>),
    TooLarge {
        code: u16,
        size: Option<u64>,
    },
    Http {
        code: u16,
        reason: &'static str,
        retry_after: Option<Duration>,
        location: Option<String>,
    },
    Timeout,
    Transport(String),
}

/// `Retry-After`: delay-seconds or an HTTP date.
fn retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds.min(MAX_DELAY.as_secs())));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn describe(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if err.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn fetch(client: &reqwest::Client, url: &str, headers: HeaderMap, limit: usize) -> Fetched {
    let response = match client.get(url).headers(headers).send().await {
        Ok(response) => response,
        Err(err) if err.is_timeout() => return Fetched::Timeout,
        Err(err) => return Fetched::Transport(describe(&err)),
    };
    let status = response.status();
    let code = status.as_u16();
    if !status.is_success() {
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|value: &HeaderValue| value.to_str().ok())
                .map(str::to_owned)
        };
        let location = header(reqwest::header::LOCATION);
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(retry_after);
        return Fetched::Http {
            code,
            reason: status.canonical_reason().unwrap_or(""),
            retry_after,
            location,
        };
    }
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    if let Some(size) = response.content_length() {
        if size > limit_u64 {
            return Fetched::TooLarge {
                code,
                size: Some(size),
            };
        }
    }
    let mut response = response;
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len().saturating_add(chunk.len()) > limit {
                    return Fetched::TooLarge { code, size: None };
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Fetched::Body(body),
            Err(err) if err.is_timeout() => return Fetched::Timeout,
            Err(err) => return Fetched::Transport(describe(&err)),
        }
    }
}

/// The id as one path segment: everything but RFC 3986's unreserved characters is escaped, so
/// that no id can reach another path.
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for &byte in id.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

async fn poll_job(
    shared: Arc<Shared>,
    client: reqwest::Client,
    id: Arc<str>,
    generation: u64,
    headers: Arc<HeaderMap>,
) {
    let settings = &shared.settings;
    let url = format!("{}/jobs/{}/status", settings.base, path_segment(&id));
    let fetched = tokio::time::timeout(
        settings.timeout,
        fetch(&client, &url, (*headers).clone(), settings.max_body_size),
    )
    .await
    .unwrap_or(Fetched::Timeout);
    shared.settle(&id, generation, fetched);
    shared.wake_loop.notify_one();
}

/// The scheduler: starts the requests that are due, at most `concurrency` at a time.
async fn schedule(shared: Arc<Shared>, client: reqwest::Client) {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let mut starts = Vec::new();
        let next = {
            let Some(mut guard) = shared.lock() else {
                break;
            };
            let inner = &mut *guard;
            if inner.closed {
                break;
            }
            let now = Instant::now();
            while inner.in_flight < shared.settings.concurrency {
                match inner.due.peek() {
                    Some(Reverse((at, ..))) if *at <= now => {}
                    _ => break,
                }
                let Some(Reverse((_, _, id, generation))) = inner.due.pop() else {
                    break;
                };
                let Some(job) = inner.jobs.get_mut(&id) else {
                    continue;
                };
                if job.generation != generation || job.phase != Phase::Polling || job.in_flight {
                    continue;
                }
                job.in_flight = true;
                job.polls += 1;
                inner.in_flight += 1;
                starts.push((id, generation, Arc::clone(&inner.headers)));
            }
            if inner.in_flight < shared.settings.concurrency {
                inner.due.peek().map(|Reverse((at, ..))| *at)
            } else {
                None
            }
        };
        for (id, generation, headers) in starts {
            tasks.spawn(poll_job(
                Arc::clone(&shared),
                client.clone(),
                id,
                generation,
                headers,
            ));
        }
        while tasks.try_join_next().is_some() {}
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.wake_loop.notified() => {}
            () = sleep => {}
        }
    }
    // Cancels the requests in flight; their connections close as the runtime drops.
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// The network thread: its own runtime, client and scheduler, until `close`.
fn run(shared: Arc<Shared>) {
    let fail = |why: String| {
        if let Some(mut inner) = shared.lock() {
            inner.fatal = Some(why);
        }
        shared.announce();
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(format!("the poller's runtime did not start: {err}")),
    };
    let settings = &shared.settings;
    let client = {
        let _entered = runtime.enter();
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(settings.concurrency)
            .tcp_nodelay(true)
            // As requests sends them: some servers and proxies still compare names by case.
            .http1_title_case_headers()
            .connect_timeout(settings.timeout)
            .build()
    };
    match client {
        Ok(client) => runtime.block_on(schedule(Arc::clone(&shared), client)),
        Err(err) => fail(format!("the HTTP client could not be made: {err}")),
    }
    // Name resolution runs on blocking threads, which a shutdown cannot cancel: bounded.
    runtime.shutdown_timeout(Duration::from_secs(1));
}

fn positive_seconds(name: &str, value: f64) -> PyResult<Duration> {
    if value.is_nan() || value <= 0.0 {
        return Err(PyValueError::new_err(format!(
            "{name} must be a positive number of seconds, not {value}"
        )));
    }
    Ok(Duration::try_from_secs_f64(value)
        .unwrap_or(MAX_DELAY)
        .min(MAX_DELAY))
}

fn header_map(headers: &Bound<'_, PyAny>) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::new();
    let items = headers.call_method0("items")?;
    for item in items.try_iter()? {
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
        let name = text_argument("headers", "a header name", &name)?;
        let value = text_argument("headers", &format!("the value of {name:?}"), &value)?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| PyValueError::new_err(format!("not a valid header name: {name:?}")))?;
        let value = HeaderValue::from_str(&value).map_err(|_| {
            PyValueError::new_err(format!("not a valid value for the header {name}"))
        })?;
        map.insert(name, value);
    }
    Ok(map)
}

/// `value` as a `str`, or a `TypeError` naming the argument and what in it is wrong.
fn text_argument(argument: &str, what: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    match value.cast::<PyString>() {
        Ok(text) => Ok(text.to_str()?.to_owned()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{argument}: {what} must be a str, not {}",
            value.get_type().name()?
        ))),
    }
}

/// A count from Python, from 0 up, as a `u64` (one larger is `u64::MAX`); a `ValueError`
/// naming the argument for a negative one.
fn count_argument(argument: &str, value: i128) -> PyResult<u64> {
    if value < 0 {
        return Err(PyValueError::new_err(format!(
            "{argument} must not be negative, not {value}"
        )));
    }
    Ok(u64::try_from(value).unwrap_or(u64::MAX))
}

/// The job ids of `job_ids` (see `job_id_list`) as Rust strings. Runs Python code: never with
/// a lock held.
fn job_ids(job_ids: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    job_id_list(job_ids, "job_ids")?
        .iter()
        .map(|id| Ok(id.to_str()?.to_owned()))
        .collect()
}

/// Refuses the ids that are no path segment of their own: `""` would poll `/jobs//status`,
/// and `.` and `..` are dot-segments that URL normalization removes, reaching another path.
/// Every other id is one segment once `path_segment` escapes it.
fn check_path_ids(ids: &[String]) -> PyResult<()> {
    match ids.iter().find(|id| matches!(id.as_str(), "" | "." | "..")) {
        Some(id) => Err(PyValueError::new_err(format!(
            "job_ids: {id:?} is not a job id: it would not be one path segment of \
             /jobs/{{job_id}}/status"
        ))),
        None => Ok(()),
    }
}

/// The deadline `timeout` seconds from now: `None` (no limit) for `None`, and for a timeout too
/// long for a `Duration` or an `Instant` (`math.inf` among them).
fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    let Some(seconds) = timeout else {
        return Ok(None);
    };
    if seconds.is_nan() || seconds < 0.0 {
        return Err(PyValueError::new_err(format!(
            "timeout must be a number of seconds from 0 up, or None, not {seconds}"
        )));
    }
    Ok(Duration::try_from_secs_f64(seconds)
        .ok()
        .and_then(|delay| Instant::now().checked_add(delay)))
}

/// Polls the status of many jobs from threads of its own and reports their transitions.
///
/// ``for transitions in poller`` yields lists of ``Transition`` as they happen and ends when
/// every added job is terminal or given up; ``wait`` blocks until jobs are terminal. The
/// network loop runs in Rust without the GIL; it starts on the first ``add``. Transitions not
/// yet taken are merged per job (from the status last shown to the latest), so memory is
/// bounded by the number of jobs when nobody iterates.
#[pyclass(frozen, subclass, module = "iqm_runstatus._core")]
pub struct StatusPoller {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The process that started the thread (0 before it starts).
    started_by: AtomicU32,
    tracker: Py<JobTracker>,
    /// Taken out by `__clear__`, so that a cycle through it (a provider that refers to its
    /// client, which holds this poller) can be collected.
    provider: Mutex<Option<Py<PyAny>>>,
}

impl StatusPoller {
    /// Refuses to work on in a child of `fork`, where the network thread does not exist.
    fn check_process(&self) -> PyResult<()> {
        let started_by = self.started_by.load(Ordering::Acquire);
        if started_by != 0 && started_by != std::process::id() {
            return Err(PyRuntimeError::new_err(
                "this StatusPoller was started in another process: its threads did not survive \
                 fork(); make a new StatusPoller in this process",
            ));
        }
        Ok(())
    }

    fn lock(&self) -> PyResult<MutexGuard<'_, Inner>> {
        self.check_process()?;
        self.shared
            .lock()
            .ok_or_else(|| PyRuntimeError::new_err("the poller's state is poisoned"))
    }

    /// Starts the network thread if it has not started.
    fn ensure_started(&self) -> PyResult<()> {
        let mut thread = self
            .thread
            .lock()
            .map_err(|_| PyRuntimeError::new_err("the poller's state is poisoned"))?;
        if thread.is_some() {
            return Ok(());
        }
        // The network thread runs the async runtime and the HTTP stack: a stack the size of
        // a runtime worker's, set here rather than inherited from `RUST_MIN_STACK`.
        const NETWORK_STACK: usize = 2 << 20;
        let shared = Arc::clone(&self.shared);
        let handle = std::thread::Builder::new()
            .name("iqm-poller".into())
            .stack_size(NETWORK_STACK)
            .spawn(move || {
                // A panic in a dependency must not leave the Python side waiting for ever.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run(Arc::clone(&shared));
                }));
                if outcome.is_err() {
                    if let Some(mut inner) = shared.lock() {
                        inner.fatal = Some("the poller's network thread panicked".to_owned());
                    }
                    shared.announce();
                }
            })
            .map_err(|err| {
                PyRuntimeError::new_err(format!("the poller's thread did not start: {err}"))
            })?;
        *thread = Some(handle);
        self.started_by.store(std::process::id(), Ordering::Release);
        Ok(())
    }

    /// The Python side of the work: bodies for the pure path, and header refreshes.
    fn service(&self, py: Python<'_>) -> PyResult<()> {
        let model = Model::get(py)?;
        self.shared
            .model_current
            .store(model.is_current(py), Ordering::Relaxed);
        let (fallbacks, refresh) = {
            let mut inner = self.lock()?;
            let fallbacks = std::mem::take(&mut inner.fallbacks);
            let due = inner.refresh_at.is_some_and(|at| at <= Instant::now());
            let refresh =
                self.shared.has_provider && (inner.refresh_wanted || due) && !inner.refreshing;
            if refresh {
                inner.refreshing = true;
            }
            (fallbacks, refresh)
        };
        if refresh {
            self.refresh_headers(py)?;
        }
        if fallbacks.is_empty() {
            return Ok(());
        }
        let pure = model.pure_from_json.bind(py);
        for (id, fallback) in fallbacks {
            let outcome = match pure.call1((PyBytes::new(py, &fallback.bytes),)) {
                Ok(result) => Ok(entry_from_run_status(model, &result)?),
                Err(err) if err.is_instance_of::<PyException>(py) => {
                    let type_name = err.get_type(py).name()?.to_string_lossy().into_owned();
                    let message = err.value(py).str()?.to_string_lossy().into_owned();
                    Err((type_name, message))
                }
                Err(err) => return Err(err),
            };
            let mut inner = self.lock()?;
            let current = inner.jobs.get(&id).is_some_and(|job| {
                job.generation == fallback.generation
                    && job.bodies == fallback.body
                    && job.phase.is_active()
            });
            if !current {
                continue;
            }
            match outcome {
                Ok(entry) => {
                    self.shared
                        .apply_entry(&mut inner, &id, &entry.borrow(), false)
                        .map_err(core_to_py)?;
                }
                Err(error) => self.shared.rejected(&mut inner, &id, error, false),
            }
        }
        self.shared.announce();
        Ok(())
    }

    /// Asks the provider for new headers; jobs refused with 401 or 403 are polled once more.
    fn refresh_headers(&self, py: Python<'_>) -> PyResult<()> {
        let provider = self
            .provider
            .lock()
            .ok()
            .and_then(|provider| provider.as_ref().map(|provider| provider.clone_ref(py)));
        let answer = provider.map(|provider| provider.bind(py).call0());
        let fresh = match answer {
            Some(Ok(answer)) => {
                let parsed = (|| -> PyResult<(HeaderMap, Option<f64>)> {
                    let (headers, valid_for): (Bound<'_, PyAny>, Option<f64>) = answer.extract()?;
                    Ok((header_map(&headers)?, valid_for))
                })();
                parsed.map_err(|err| err.to_string())
            }
            Some(Err(err)) if !err.is_instance_of::<PyException>(py) => {
                if let Ok(mut inner) = self.lock() {
                    inner.refreshing = false;
                    // Tried again at the next service, for the jobs waiting for headers.
                    inner.refresh_wanted = true;
                }
                return Err(err);
            }
            Some(Err(err)) => Err(err.to_string()),
            None => Err("no header provider".to_owned()),
        };
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        inner.refreshing = false;
        inner.refresh_wanted = false;
        let waiting: Vec<(Arc<str>, Phase)> = inner
            .jobs
            .iter()
            .filter(|(_, job)| matches!(job.phase, Phase::AwaitingAuth | Phase::AwaitingHeaders))
            .map(|(id, job)| (Arc::clone(id), job.phase))
            .collect();
        match fresh {
            Ok((mut headers, valid_for)) => {
                inner.primed = true;
                for (name, value) in &self.shared.settings.headers {
                    if !headers.contains_key(name) {
                        headers.insert(name.clone(), value.clone());
                    }
                }
                inner.headers = Arc::new(headers);
                inner.refresh_at = valid_for.map(|seconds| {
                    let now = Instant::now();
                    let delay = Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(MAX_DELAY);
                    now.checked_add(delay.min(MAX_DELAY)).unwrap_or(now)
                });
                for (id, phase) in waiting {
                    if let Some(job) = inner.jobs.get_mut(&id) {
                        job.phase = Phase::Polling;
                        // A job refused before is given up if the new headers are refused too.
                        job.auth_refreshed = phase == Phase::AwaitingAuth;
                        let generation = job.generation;
                        inner.schedule(&id, generation, Duration::ZERO);
                    }
                }
                self.shared.wake_loop.notify_one();
            }
            Err(why) => {
                inner.stats.auth_refresh_failures += 1;
                // A refresh on a schedule is tried again later (the old headers stay until
                // then); jobs that cannot be polled without new headers give up now.
                let now = Instant::now();
                inner.refresh_at = now.checked_add(self.shared.settings.interval);
                for (id, phase) in waiting {
                    let reason = if phase == Phase::AwaitingAuth {
                        format!("refused, and refreshing the headers failed: {why}")
                    } else {
                        format!("the headers could not be obtained from the client: {why}")
                    };
                    inner.give_up(&id, reason);
                }
            }
        }
        drop(guard);
        self.shared.announce();
        Ok(())
    }

    /// Closes the wakeup socket pair, if one was made: nothing changes after `close`.
    fn close_wakeup(&self) {
        let pair = self
            .shared
            .wakeup
            .lock()
            .ok()
            .and_then(|mut pair| pair.take());
        drop(pair);
    }

    /// Whether nothing more will come: every job settled and everything handed over.
    fn finished(inner: &Inner) -> bool {
        inner.transitions.is_empty()
            && inner.fallbacks.is_empty()
            && (inner.active == 0 || inner.closed || inner.fatal.is_some())
    }

    /// `Transition`s of `taken`, built with no lock held.
    fn transition_list<'py>(
        py: Python<'py>,
        taken: Vec<(Arc<str>, Option<StatusCode>, StatusCode)>,
    ) -> PyResult<Bound<'py, PyList>> {
        let model = Model::get(py)?;
        let class = named_tuple(py, &TRANSITION, "Transition")?;
        let member = |status: StatusCode| -> PyResult<Bound<'_, PyAny>> {
            Ok(model.member(status)?.bind(py).clone())
        };
        let items = taken
            .into_iter()
            .map(|(id, previous, current)| {
                let previous = previous.map_or_else(|| Ok(py.None().into_bound(py)), member)?;
                new_named_tuple(
                    class,
                    [
                        PyString::new(py, &id).into_any(),
                        previous,
                        member(current)?,
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The next transitions without blocking: a non-empty list, an empty one if none came yet,
    /// or `None` once finished.
    fn next_ready<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        self.service(py)?;
        let taken = {
            let mut inner = self.lock()?;
            if let Some(why) = inner.fatal.clone() {
                drop(inner);
                return Err(PyRuntimeError::new_err(why));
            }
            if inner.transitions.is_empty() && Self::finished(&inner) {
                return Ok(None);
            }
            inner.take_transitions()
        };
        Self::transition_list(py, taken).map(Some)
    }

    /// Waits up to `slice` for a change, without the GIL.
    fn wait_slice(&self, py: Python<'_>, slice: Duration) -> PyResult<()> {
        let shared = &self.shared;
        py.detach(|| {
            if let Some(inner) = shared.lock() {
                if inner.transitions.is_empty() && inner.fallbacks.is_empty() {
                    let _ = shared.changed.wait_timeout(inner, slice);
                }
            }
        });
        py.check_signals()
    }
}

#[pymethods]
impl StatusPoller {
    #[new]
    // Extra positional arguments are taken only to say what to do instead.
    #[pyo3(
        signature = (
            base_url, *positional, token = None, headers = None, concurrency = 64,
            interval = 1.0, max_interval = 30.0, timeout = 60.0, max_retries = 8,
            max_body_size = 1_048_576, _header_provider = None
        ),
        text_signature = "(base_url, *, token=None, headers=None, concurrency=64, \
            interval=1.0, max_interval=30.0, timeout=60.0, max_retries=8, \
            max_body_size=1048576, _header_provider=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        base_url: &str,
        positional: &Bound<'_, PyTuple>,
        token: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        concurrency: i128,
        interval: f64,
        max_interval: f64,
        timeout: f64,
        max_retries: i128,
        max_body_size: i128,
        _header_provider: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        if !positional.is_empty() {
            return Err(PyTypeError::new_err(
                "StatusPoller takes the base URL as its only positional argument: pass the \
                 settings by name, as in StatusPoller(base_url, interval=1.0)",
            ));
        }
        let concurrency = count_argument("concurrency", concurrency)?;
        let concurrency = usize::try_from(concurrency).unwrap_or(usize::MAX);
        let max_retries = count_argument("max_retries", max_retries)?;
        let max_retries = u32::try_from(max_retries).unwrap_or(u32::MAX);
        let max_body_size = count_argument("max_body_size", max_body_size)?;
        let max_body_size = usize::try_from(max_body_size).unwrap_or(usize::MAX);
        let token = match token {
            Some(token) if !token.is_none() => Some(text_argument("token", "token", token)?),
            _ => None,
        };
        if !base_url.contains("://") {
            return Err(PyValueError::new_err(format!(
                "invalid base_url {base_url:?}: it has no scheme; write it as \
                 https://{base_url} or http://{base_url}"
            )));
        }
        let url = reqwest::Url::parse(base_url).map_err(|err| {
            PyValueError::new_err(format!("invalid base_url {base_url:?}: {err}"))
        })?;
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            return Err(PyValueError::new_err(format!(
                "invalid base_url {base_url:?}: an http or https URL with a host is needed"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(PyValueError::new_err(format!(
                "invalid base_url {base_url:?}: it may not have a query or a fragment"
            )));
        }
        if concurrency == 0 {
            return Err(PyValueError::new_err("concurrency must be at least 1"));
        }
        if max_body_size == 0 {
            return Err(PyValueError::new_err("max_body_size must be at least 1"));
        }
        let interval = positive_seconds("interval", interval)?;
        let max_interval = positive_seconds("max_interval", max_interval)?;
        if max_interval < interval {
            return Err(PyValueError::new_err(
                "max_interval must not be shorter than interval",
            ));
        }
        let timeout = positive_seconds("timeout", timeout)?;
        let mut header_values = match headers {
            Some(headers) if !headers.is_none() => header_map(headers)?,
            _ => HeaderMap::new(),
        };
        if let Some(token) = token.as_deref() {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| PyValueError::new_err("the token is not a valid header value"))?;
            header_values.insert(AUTHORIZATION, value);
        }
        if !header_values.contains_key(USER_AGENT) {
            header_values.insert(
                USER_AGENT,
                HeaderValue::from_static(concat!("iqm-runstatus/", env!("CARGO_PKG_VERSION"))),
            );
        }
        let base = url.as_str().trim_end_matches('/').to_owned();
        let seed = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), 0u8) | 1;
        let inner = Inner {
            jobs: Map::default(),
            due: BinaryHeap::new(),
            order: 0,
            generations: 0,
            active: 0,
            in_flight: 0,
            transitions: Map::default(),
            arrivals: 0,
            fallbacks: Map::default(),
            errors: Map::default(),
            failed: Map::default(),
            headers: Arc::new(header_values.clone()),
            refresh_wanted: false,
            refreshing: false,
            primed: false,
            refresh_at: None,
            closed: false,
            fatal: None,
            stats: Stats::default(),
            random: seed,
        };
        let tracker = JobTracker::empty();
        let shared = Shared {
            inner: Mutex::new(inner),
            changed: Condvar::new(),
            wake_loop: tokio::sync::Notify::new(),
            wakeup: Mutex::new(None),
            signalled: AtomicBool::new(false),
            model_current: AtomicBool::new(false),
            tracker: tracker.shared(),
            settings: Settings {
                base,
                concurrency: concurrency.min(MAX_CONCURRENCY),
                interval,
                max_interval,
                timeout,
                max_retries,
                max_body_size,
                headers: header_values,
            },
            has_provider: _header_provider.is_some(),
        };
        Ok(StatusPoller {
            shared: Arc::new(shared),
            thread: Mutex::new(None),
            started_by: AtomicU32::new(0),
            tracker: Py::new(py, tracker)?,
            provider: Mutex::new(_header_provider),
        })
    }

    /// Starts polling these jobs (a ``str`` or ``uuid.UUID`` is one id; otherwise an iterable
    /// of them) at once; ids already added are polled once. Allowed while polling. ``""``,
    /// ``.`` and ``..`` are refused with ``ValueError``: each id is one path segment.
    fn add(&self, py: Python<'_>, job_ids: &Bound<'_, PyAny>) -> PyResult<()> {
        let ids = self::job_ids(job_ids)?;
        check_path_ids(&ids)?;
        self.check_process()?;
        {
            let inner = self.lock()?;
            if inner.closed {
                return Err(PyRuntimeError::new_err("the poller is closed"));
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        self.shared
            .model_current
            .store(Model::get(py)?.is_current(py), Ordering::Relaxed);
        self.ensure_started()?;
        let first = {
            let mut guard = self.lock()?;
            let inner = &mut *guard;
            let interval = self.shared.settings.interval;
            // Until the provider gave headers, jobs wait for them: no request goes out without.
            let unprimed = self.shared.has_provider && !inner.primed;
            for id in ids {
                let id: Arc<str> = Arc::from(id);
                if inner.jobs.contains_key(&id) {
                    continue;
                }
                inner.generations += 1;
                let generation = inner.generations;
                inner.jobs.insert(
                    Arc::clone(&id),
                    Job {
                        generation,
                        phase: if unprimed {
                            Phase::AwaitingHeaders
                        } else {
                            Phase::Polling
                        },
                        in_flight: false,
                        interval,
                        failures: 0,
                        rejections: 0,
                        auth_refreshed: false,
                        polls: 0,
                        bodies: 0,
                    },
                );
                inner.failed.remove(&id);
                inner.active += 1;
                if !unprimed {
                    inner.schedule(&id, generation, Duration::ZERO);
                }
            }
            let first = unprimed && !inner.refreshing;
            inner.refreshing |= first;
            // Another thread's refresh under way takes these jobs along when it ends.
            inner.refresh_wanted |= unprimed;
            first
        };
        self.shared.wake_loop.notify_one();
        if first {
            self.refresh_headers(py)?;
        }
        Ok(())
    }

    /// Stops polling these jobs (one ``str`` or ``uuid.UUID`` is one id); unknown ids are
    /// ignored. Their last status stays in ``tracker``. Returns how many were removed.
    fn remove(&self, job_ids: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ids = self::job_ids(job_ids)?;
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let mut removed = 0;
        for id in ids {
            if let Some(job) = inner.jobs.remove(id.as_str()) {
                removed += 1;
                if job.phase.is_active() {
                    inner.active = inner.active.saturating_sub(1);
                }
                inner.fallbacks.remove(id.as_str());
                inner.errors.remove(id.as_str());
                inner.failed.remove(id.as_str());
            }
        }
        drop(guard);
        self.shared.announce();
        Ok(removed)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next transitions, waiting for them without the GIL; ``StopIteration`` once every
    /// job is terminal or given up.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        loop {
            match self.next_ready(py)? {
                None => return Ok(None),
                Some(list) if !list.is_empty() => return Ok(Some(list)),
                Some(_) => self.wait_slice(py, WAIT_SLICE)?,
            }
        }
    }

    /// Blocks until these jobs (all added ones if ``None``; one ``str`` or ``uuid.UUID`` is
    /// one job) are terminal or given up, and returns the ``RunStatus`` of each terminal one.
    /// ``TimeoutError`` after ``timeout`` seconds, saying how many are still pending and how
    /// many of those had their latest body rejected; a timeout too long to represent
    /// (``math.inf``) is no limit.
    #[pyo3(signature = (job_ids = None, timeout = None))]
    fn wait<'py>(
        &self,
        py: Python<'py>,
        job_ids: Option<&Bound<'py, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let deadline = self::deadline(timeout)?;
        // Converted before locking: iterating the ids or `UUID.__str__` runs Python code.
        let given = match job_ids {
            Some(ids) if !ids.is_none() => Some(self::job_ids(ids)?),
            _ => None,
        };
        let wanted: Vec<Arc<str>> = {
            let inner = self.lock()?;
            match given {
                Some(given) => {
                    let mut wanted = Vec::with_capacity(given.len().min(inner.jobs.len()));
                    for id in given {
                        match inner.jobs.get_key_value(id.as_str()) {
                            Some((key, _)) => wanted.push(Arc::clone(key)),
                            None => {
                                drop(inner);
                                return Err(PyKeyError::new_err(format!(
                                    "{id} was not added to this poller"
                                )));
                            }
                        }
                    }
                    wanted
                }
                None => inner.jobs.keys().cloned().collect(),
            }
        };
        loop {
            self.service(py)?;
            let (pending, rejected, terminal, stopped, fatal) = {
                let inner = self.lock()?;
                let mut pending = 0usize;
                let mut rejected = 0usize;
                let mut terminal = Vec::new();
                for id in &wanted {
                    match inner.jobs.get(id).map(|job| job.phase) {
                        Some(Phase::Terminal) => terminal.push(Arc::clone(id)),
                        Some(phase) if phase.is_active() => {
                            pending += 1;
                            rejected += usize::from(inner.errors.contains_key(id));
                        }
                        _ => {}
                    }
                }
                (
                    pending,
                    rejected,
                    terminal,
                    inner.closed,
                    inner.fatal.clone(),
                )
            };
            if let Some(why) = fatal {
                return Err(PyRuntimeError::new_err(why));
            }
            if pending == 0 {
                let result = PyDict::new(py);
                let tracker = self.tracker.bind(py);
                for id in terminal {
                    result.set_item(&*id, tracker.call_method1("status", (&*id,))?)?;
                }
                return Ok(result);
            }
            if stopped {
                return Err(PyRuntimeError::new_err(format!(
                    "the poller is closed with {pending} of {} jobs still pending",
                    wanted.len()
                )));
            }
            let mut slice = WAIT_SLICE;
            if let Some(deadline) = deadline {
                let now = Instant::now();
                if now >= deadline {
                    let rejected = if rejected == 0 {
                        String::new()
                    } else {
                        format!("; the latest body of {rejected} of them was rejected (see errors)")
                    };
                    return Err(PyTimeoutError::new_err(format!(
                        "{pending} of {} jobs still pending after {} s{rejected}",
                        wanted.len(),
                        timeout.unwrap_or(0.0)
                    )));
                }
                slice = slice.min(deadline - now);
            }
            py.detach(|| {
                if let Some(inner) = self.shared.lock() {
                    let _ = self.shared.changed.wait_timeout(inner, slice);
                }
            });
            py.check_signals()?;
        }
    }

    /// The ``JobTracker`` the poller feeds; readable from any thread while it polls.
    #[getter]
    fn tracker(&self, py: Python<'_>) -> Py<JobTracker> {
        self.tracker.clone_ref(py)
    }

    /// The jobs given up, each with the reason.
    #[getter]
    fn failed(&self) -> PyResult<BTreeMap<String, String>> {
        let inner = self.lock()?;
        Ok(inner
            .failed
            .iter()
            .map(|(id, why)| (id.to_string(), why.clone()))
            .collect())
    }

    /// A ``TrackerError`` for each job whose latest body was rejected (its last good status is
    /// kept, and it is polled again on its schedule).
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let mut errors: Vec<(String, String, String)> = {
            let inner = self.lock()?;
            inner
                .errors
                .iter()
                .map(|(id, (kind, message))| (id.to_string(), kind.clone(), message.clone()))
                .collect()
        };
        errors.sort();
        let class = named_tuple(py, &TRACKER_ERROR, "TrackerError")?;
        errors
            .iter()
            .map(|(id, kind, message)| {
                new_named_tuple(
                    class,
                    [id, kind, message].map(|text| PyString::new(py, text).into_any()),
                )
            })
            .collect()
    }

    /// Counters: ``requests``, ``responses`` (by status code), ``retries``, ``timeouts``,
    /// ``transport_errors``, ``bytes`` (of bodies read), ``auth_refresh_failures`` (header
    /// refreshes whose provider raised or gave unusable headers) and ``polls`` (requests per
    /// job).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (stats, polls) = {
            let inner = self.lock()?;
            let polls: Vec<(String, u64)> = inner
                .jobs
                .iter()
                .map(|(id, job)| (id.to_string(), job.polls))
                .collect();
            let stats = &inner.stats;
            (
                (
                    stats.requests,
                    stats.responses.clone(),
                    stats.retries,
                    stats.timeouts,
                    stats.transport_errors,
                    stats.bytes,
                    stats.auth_refresh_failures,
                ),
                polls,
            )
        };
        let result = PyDict::new(py);
        result.set_item("requests", stats.0)?;
        result.set_item("responses", stats.1)?;
        result.set_item("retries", stats.2)?;
        result.set_item("timeouts", stats.3)?;
        result.set_item("transport_errors", stats.4)?;
        result.set_item("bytes", stats.5)?;
        result.set_item("auth_refresh_failures", stats.6)?;
        let per_job = PyDict::new(py);
        for (id, count) in polls {
            per_job.set_item(id, count)?;
        }
        result.set_item("polls", per_job)?;
        Ok(result)
    }

    /// Shows the collector the tracker and the header provider, which can sit in a cycle
    /// with this poller (a provider that refers to a client on which the poller is kept).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.tracker)?;
        // Held only for a moment, and never while the collector runs on this thread.
        if let Ok(provider) = self.provider.try_lock() {
            if let Some(provider) = provider.as_ref() {
                visit.call(provider)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        // Dropped after the lock is released: the provider's last reference may run Python.
        let provider = self
            .provider
            .lock()
            .ok()
            .and_then(|mut provider| provider.take());
        drop(provider);
    }

    /// Cancels the requests in flight and joins the network thread; idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if self.check_process().is_err() {
            // The thread does not exist here: nothing to join.
            if let Ok(mut thread) = self.thread.lock() {
                std::mem::forget(thread.take());
            }
            self.close_wakeup();
            return Ok(());
        }
        if let Some(mut inner) = self.shared.lock() {
            inner.closed = true;
        }
        self.shared.wake_loop.notify_one();
        // Wakes an `async for` waiting on the wakeup descriptor before it is closed.
        self.shared.announce();
        let handle = self
            .thread
            .lock()
            .map_err(|_| PyRuntimeError::new_err("the poller's state is poisoned"))?
            .take();
        if let Some(handle) = handle {
            py.detach(|| handle.join())
                .map_err(|_| PyRuntimeError::new_err("the poller's thread failed"))?;
        }
        self.close_wakeup();
        Ok(())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> PyResult<String> {
        let inner = self.lock()?;
        Ok(format!(
            "StatusPoller({:?}, jobs={}, pending={}, failed={})",
            self.shared.settings.base,
            inner.jobs.len(),
            inner.active,
            inner.failed.len()
        ))
    }

    /// For ``async for``: the next transitions without blocking, ``[]`` if none came yet,
    /// ``None`` once finished.
    fn _next_ready<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        self.next_ready(py)
    }

    /// For ``async for``: a descriptor that becomes readable when something changes; ``-1``
    /// once closed (nothing changes any more). ``close`` closes it.
    fn _wakeup_fd(&self) -> PyResult<i32> {
        if self.lock()?.closed {
            return Ok(-1);
        }
        let mut pair = self
            .shared
            .wakeup
            .lock()
            .map_err(|_| PyRuntimeError::new_err("the poller's state is poisoned"))?;
        if let Some((reader, _)) = pair.as_ref() {
            return Ok(reader.as_raw_fd());
        }
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let fd = reader.as_raw_fd();
        *pair = Some((reader, writer));
        Ok(fd)
    }

    /// Empties the wakeup descriptor, so that the next change signals it again.
    fn _drain_wakeup(&self) {
        if let Ok(pair) = self.shared.wakeup.lock() {
            if let Some((reader, _)) = pair.as_ref() {
                self.shared.signalled.store(false, Ordering::Release);
                let mut buffer = [0u8; 64];
                while matches!((&*reader).read(&mut buffer), Ok(n) if n > 0) {}
            }
        }
    }
}

impl Drop for StatusPoller {
    fn drop(&mut self) {
        let Ok(thread) = self.thread.get_mut() else {
            return;
        };
        if self.started_by.load(Ordering::Acquire) != std::process::id() {
            // In a child of fork the handle names a thread that does not exist here.
            std::mem::forget(thread.take());
            return;
        }
        // Not joined: dropping must not block. The thread stops at its next turn.
        if let Some(mut inner) = self.shared.lock() {
            inner.closed = true;
        }
        self.shared.wake_loop.notify_one();
        drop(thread.take());
    }
}
