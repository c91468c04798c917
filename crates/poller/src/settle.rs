//! What an answer does to a job: a status recorded (and a transition queued), a body rejected
//! or handed to the pure path, a failure backed off or the job given up; and the job's next
//! poll put on the schedule by the policy.

use std::sync::Arc;
use std::time::Duration;

use iqm_runstatus_core::columns::{Builder, Entry};
use iqm_runstatus_core::parse::parse_status;
use iqm_runstatus_core::status::{StatusCode, Vocabulary};
use iqm_runstatus_core::Error as CoreError;
use tokio::time::Instant;

use crate::engine::Settings;
use crate::http::Fetched;
use crate::state::{Fallback, Phase, Rejection, State};

/// The error type name of a body over the size limit, as `TrackerError.error_type`.
pub const TOO_LARGE: &str = "ResponseTooLarge";

/// Where the statuses go: the bindings' tracker.
pub trait Record: Send + Sync + 'static {
    /// Stores `entry` as the latest status of `id`; the previous status if it changed
    /// (`Some(None)` for a new job).
    fn record(&self, id: &str, entry: &Entry<'_>) -> Result<Option<Option<StatusCode>>, CoreError>;
}

/// What settling needs besides the state.
pub(crate) struct Context<'a> {
    pub settings: &'a Settings,
    pub vocabulary: &'a Vocabulary,
    pub tracker: &'a dyn Record,
    /// Whether the fast parser gives the model's answer (else every body goes to the pure path).
    pub fast_parse: bool,
    pub now: Instant,
}

/// The fast parse of one body; `None` when the pure path must decide.
fn parse_entry(vocabulary: &Vocabulary, bytes: &[u8]) -> Option<Builder> {
    let parsed = parse_status(vocabulary, bytes).ok()?;
    let mut builder = Builder::with_capacity(1);
    builder.push_parsed(&parsed).ok()?;
    Some(builder)
}

impl State {
    /// Applies a parsed status of `id`: the tracker, the transition, the schedule. Whether the
    /// consumer has something to see (a transition, a settled job, an error gone).
    pub(crate) fn apply_entry(
        &mut self,
        cx: &Context<'_>,
        id: &Arc<str>,
        entry: &Entry<'_>,
        reschedule: bool,
    ) -> Result<bool, CoreError> {
        let change = cx.tracker.record(id, entry)?;
        let cleared = self.errors.remove(id).is_some();
        let policy = &cx.settings.policy;
        let Some(job) = self.jobs.get_mut(id) else {
            return Ok(cleared);
        };
        let generation = job.generation;
        let changed = change.is_some();
        job.rejections = 0;
        let terminal = cx.vocabulary.is_terminal(entry.status);
        let was_active = job.phase.is_active();
        if terminal {
            job.phase = Phase::Terminal;
        } else {
            job.interval = policy.next_interval(job.interval, changed);
        }
        let interval = job.interval;
        if terminal && was_active {
            self.deactivate();
        }
        if let Some(previous) = change {
            self.push_transition(id, previous, entry.status);
        }
        if terminal {
            self.fallbacks.remove(id);
            return Ok(true);
        }
        if reschedule {
            let delay = self.jitter.apply(interval);
            self.schedule(id, generation, delay, cx.now);
        }
        Ok(changed || cleared)
    }

    /// Handles the end of one request of `id`; whether the consumer has news.
    pub(crate) fn settle(
        &mut self,
        cx: &Context<'_>,
        id: &Arc<str>,
        generation: u64,
        fetched: Fetched,
    ) -> bool {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.stats.requests += 1;
        match &fetched {
            Fetched::Body(bytes) => {
                *self.stats.responses.entry(200).or_default() += 1;
                self.stats.bytes += bytes.len() as u64;
            }
            Fetched::TooLarge { code, .. } | Fetched::Http { code, .. } => {
                *self.stats.responses.entry(*code).or_default() += 1;
            }
            Fetched::Timeout => self.stats.timeouts += 1,
            Fetched::Transport(_) => self.stats.transport_errors += 1,
        }
        let Some(job) = self.jobs.get_mut(id) else {
            return false;
        };
        if job.generation != generation {
            return false;
        }
        job.in_flight = false;
        if job.phase != Phase::Polling {
            return false;
        }
        let settings = cx.settings;
        match fetched {
            Fetched::Body(bytes) => {
                job.failures = 0;
                job.auth_refreshed = false;
                job.bodies += 1;
                let body = job.bodies;
                let parsed = if cx.fast_parse {
                    parse_entry(cx.vocabulary, &bytes)
                } else {
                    None
                };
                // Most answers repeat the last one: the consumer is woken only for news.
                match parsed {
                    Some(builder) => {
                        let dropped = self.fallbacks.remove(id).is_some();
                        let columns = builder.finish();
                        let applied = match columns.entry(0) {
                            Some(entry) => self.apply_entry(cx, id, &entry, true),
                            None => Err(CoreError::BadState("parsed entry")),
                        };
                        match applied {
                            Ok(visible) => visible || dropped,
                            Err(err) => {
                                self.give_up(id, format!("the tracker failed: {err}"));
                                true
                            }
                        }
                    }
                    None => {
                        self.fallbacks.insert(
                            Arc::clone(id),
                            Fallback {
                                generation,
                                body,
                                bytes,
                            },
                        );
                        self.unchanged(cx, id);
                        true
                    }
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
                self.rejected(cx, id, (TOO_LARGE.to_owned(), message), true);
                true
            }
            Fetched::Http {
                code,
                reason,
                retry_after,
                location,
            } => {
                let what = format!("HTTP {code} {reason}");
                match code {
                    429 | 503 => {
                        let asked = retry_after.map(|after| after.delay((settings.wall_clock)()));
                        self.failure(cx, id, what, asked)
                    }
                    500..=599 => self.failure(cx, id, what, None),
                    404 => {
                        self.give_up(id, format!("{what}: the server does not know the job"));
                        true
                    }
                    401 | 403 => {
                        if settings.has_provider && !job.auth_refreshed {
                            job.phase = Phase::AwaitingAuth;
                            self.refresh_wanted = true;
                        } else if settings.has_provider {
                            self.give_up(
                                id,
                                format!("{what}: still refused after the headers were refreshed"),
                            );
                        } else {
                            self.give_up(
                                id,
                                format!("{what}: refused, and there is no client to refresh the headers from"),
                            );
                        }
                        true
                    }
                    300..=399 => {
                        let to = location.as_deref().unwrap_or("no location");
                        self.give_up(id, format!("{what}: redirects are not followed (to {to})"));
                        true
                    }
                    _ => {
                        self.give_up(id, format!("{what}: not a status answer"));
                        true
                    }
                }
            }
            Fetched::Timeout => {
                let what = format!(
                    "no complete response within {:.3} s",
                    settings.timeout.as_secs_f64()
                );
                self.failure(cx, id, what, None)
            }
            Fetched::Transport(what) => self.failure(cx, id, what, None),
        }
    }

    /// A body of `id` was rejected: it is the job's error, and the job is given up once more
    /// than `max_retries` bodies in a row were rejected, as after failed requests.
    pub(crate) fn rejected(
        &mut self,
        cx: &Context<'_>,
        id: &Arc<str>,
        error: Rejection,
        reschedule: bool,
    ) {
        let Some(job) = self.jobs.get_mut(id) else {
            return;
        };
        job.rejections = job.rejections.saturating_add(1);
        let rejections = job.rejections;
        if cx.settings.policy.gives_up(rejections) {
            let plural = if rejections == 1 { "" } else { "s" };
            let reason = format!(
                "the body was rejected ({rejections} time{plural} in a row): {}: {}",
                error.0, error.1
            );
            self.errors.insert(Arc::clone(id), error);
            self.give_up(id, reason);
            return;
        }
        self.errors.insert(Arc::clone(id), error);
        if reschedule {
            self.unchanged(cx, id);
        }
    }

    /// Reschedules a job whose status did not change (or could not be read yet).
    fn unchanged(&mut self, cx: &Context<'_>, id: &Arc<str>) {
        let Some(job) = self.jobs.get_mut(id) else {
            return;
        };
        job.interval = cx.settings.policy.grown(job.interval);
        let (interval, generation) = (job.interval, job.generation);
        let delay = self.jitter.apply(interval);
        self.schedule(id, generation, delay, cx.now);
    }

    /// A failed attempt: retried after a backoff (or the delay the server asked for), or
    /// given up after too many in a row (`true`: the consumer has news).
    fn failure(
        &mut self,
        cx: &Context<'_>,
        id: &Arc<str>,
        what: String,
        asked: Option<Duration>,
    ) -> bool {
        let policy = &cx.settings.policy;
        let Some(job) = self.jobs.get_mut(id) else {
            return false;
        };
        job.failures = job.failures.saturating_add(1);
        if policy.gives_up(job.failures) {
            let failures = job.failures;
            let plural = if failures == 1 { "" } else { "s" };
            self.give_up(id, format!("{what} ({failures} failure{plural} in a row)"));
            return true;
        }
        let generation = job.generation;
        let backoff = policy.backoff(job.failures);
        self.stats.retries += 1;
        let delay = match asked {
            Some(delay) => delay,
            None => self.jitter.apply(backoff),
        };
        self.schedule(id, generation, delay, cx.now);
        false
    }
}
