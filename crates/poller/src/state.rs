//! Every job's state, the schedule, and what waits for the Python side: transitions coalesced
//! per job, bodies for the pure path, errors and the jobs given up. Plain data behind the
//! engine's one mutex; `settle.rs` applies answers to it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::time::Duration;

use foldhash::quality::RandomState;
use iqm_runstatus_core::status::StatusCode;
use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::consumer::Progress;
use crate::error::Failure;
use crate::policy::MAX_DELAY;
use crate::rng::Jitter;

pub(crate) type Map<K, V> = hashbrown::HashMap<K, V, RandomState>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Phase {
    Polling,
    /// Answered 401 or 403: waits for the headers to be refreshed.
    AwaitingAuth,
    /// Added before the provider gave any headers: not polled until it does, so that no
    /// request goes out without them.
    AwaitingHeaders,
    Terminal,
    GivenUp,
}

impl Phase {
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Phase::Polling | Phase::AwaitingAuth | Phase::AwaitingHeaders
        )
    }
}

#[derive(Debug)]
pub(crate) struct Job {
    /// Tells this job's schedule entries and requests from those of an earlier add.
    pub generation: u64,
    pub phase: Phase,
    pub in_flight: bool,
    pub interval: Duration,
    pub failures: u32,
    /// Bodies rejected in a row (by the size limit or the parser).
    pub rejections: u32,
    /// Whether the headers were refreshed for this job since its last good answer.
    pub auth_refreshed: bool,
    pub polls: u64,
    /// Counts bodies, so that a body handed to the pure path is not applied after a newer one.
    pub bodies: u64,
}

/// A body for the pure path, with the job's generation and body count when it arrived.
#[derive(Debug)]
pub struct Fallback {
    pub(crate) generation: u64,
    pub(crate) body: u64,
    pub bytes: Vec<u8>,
}

/// The counters `stats()` shows.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct Stats {
    pub requests: u64,
    pub responses: BTreeMap<u16, u64>,
    pub retries: u64,
    pub timeouts: u64,
    pub transport_errors: u64,
    pub bytes: u64,
    /// Header refreshes whose provider raised or gave unusable headers.
    pub auth_refresh_failures: u64,
}

/// A job's transitions not yet handed over, coalesced: from the status before the first of
/// them to the latest.
struct Pending {
    arrival: u64,
    previous: Option<StatusCode>,
    current: StatusCode,
}

/// A transition handed over: the job, the status it was last shown (`None`: none), the latest.
pub type Transition = (Arc<str>, Option<StatusCode>, StatusCode);

/// (due, order, id, generation): entries of removed or re-added jobs are skipped.
type Due = (Instant, u64, Arc<str>, u64);

/// A rejected body's error: the type name and the message, as `TrackerError` shows them.
pub type Rejection = (String, String);

pub struct State {
    pub(crate) jobs: Map<Arc<str>, Job>,
    due: BinaryHeap<Reverse<Due>>,
    order: u64,
    pub(crate) generations: u64,
    /// Jobs polling or waiting for new headers.
    pub(crate) active: usize,
    /// Counts the times a job stopped being active (terminal, given up or removed): a `wait`
    /// rescans its jobs only once enough of them can have settled.
    pub(crate) settled: u64,
    pub(crate) in_flight: usize,
    /// At most one pending transition per job (see `push_transition`), so that the queue is
    /// bounded by the number of jobs when nobody iterates.
    transitions: Map<Arc<str>, Pending>,
    /// Orders the pending transitions by their first arrival.
    arrivals: u64,
    pub(crate) fallbacks: Map<Arc<str>, Fallback>,
    pub(crate) errors: Map<Arc<str>, Rejection>,
    pub(crate) failed: Map<Arc<str>, String>,
    pub(crate) headers: Arc<HeaderMap>,
    pub(crate) refresh_wanted: bool,
    pub(crate) refreshing: bool,
    /// Whether the provider gave the headers yet (it is first asked on the first `add`).
    pub(crate) primed: bool,
    pub(crate) refresh_at: Option<Instant>,
    pub(crate) closed: bool,
    /// Why the network thread stopped on its own, if it did.
    pub(crate) fatal: Option<Failure>,
    pub(crate) stats: Stats,
    pub(crate) jitter: Jitter,
}

impl State {
    pub(crate) fn new(headers: HeaderMap, jitter: Jitter) -> State {
        State {
            jobs: Map::default(),
            due: BinaryHeap::new(),
            order: 0,
            generations: 0,
            active: 0,
            settled: 0,
            in_flight: 0,
            transitions: Map::default(),
            arrivals: 0,
            fallbacks: Map::default(),
            errors: Map::default(),
            failed: Map::default(),
            headers: Arc::new(headers),
            refresh_wanted: false,
            refreshing: false,
            primed: false,
            refresh_at: None,
            closed: false,
            fatal: None,
            stats: Stats::default(),
            jitter,
        }
    }

    /// Adds the job `id` (nothing if it is there): polled at once, or when the first headers
    /// come if it must wait for them (`unprimed`).
    pub(crate) fn insert_job(
        &mut self,
        id: Arc<str>,
        interval: Duration,
        unprimed: bool,
        now: Instant,
    ) {
        if self.jobs.contains_key(&id) {
            return;
        }
        self.generations += 1;
        let generation = self.generations;
        let phase = if unprimed {
            Phase::AwaitingHeaders
        } else {
            Phase::Polling
        };
        self.jobs.insert(
            Arc::clone(&id),
            Job {
                generation,
                phase,
                in_flight: false,
                interval,
                failures: 0,
                rejections: 0,
                auth_refreshed: false,
                polls: 0,
                bodies: 0,
            },
        );
        self.failed.remove(&id);
        self.active += 1;
        if !unprimed {
            self.schedule(&id, generation, Duration::ZERO, now);
        }
    }

    /// Puts `id` on the schedule `delay` after `now` (at most `MAX_DELAY`).
    pub(crate) fn schedule(
        &mut self,
        id: &Arc<str>,
        generation: u64,
        delay: Duration,
        now: Instant,
    ) {
        let at = now.checked_add(delay.min(MAX_DELAY)).unwrap_or(now);
        self.order = self.order.wrapping_add(1);
        self.due
            .push(Reverse((at, self.order, Arc::clone(id), generation)));
    }

    /// The earliest entry on the schedule, stale or not.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.due.peek().map(|Reverse((at, ..))| *at)
    }

    /// Takes the next job due at `now` that may be polled, marking it in flight.
    pub(crate) fn start_due(&mut self, now: Instant) -> Option<(Arc<str>, u64)> {
        loop {
            match self.due.peek() {
                Some(Reverse((at, ..))) if *at <= now => {}
                _ => return None,
            }
            let Reverse((_, _, id, generation)) = self.due.pop()?;
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            if job.generation != generation || job.phase != Phase::Polling || job.in_flight {
                continue;
            }
            job.in_flight = true;
            job.polls += 1;
            self.in_flight += 1;
            return Some((id, generation));
        }
    }

    /// Queues the transition `previous -> current` of `id`, merged with one still pending for
    /// it: the consumer sees each job's statuses as a chain (each previous is the current it
    /// was last shown), with the statuses it was too slow to see left out; a job back at the
    /// status it was last shown has no pending transition.
    pub(crate) fn push_transition(
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
    pub(crate) fn take_transitions(&mut self) -> Vec<Transition> {
        let mut taken: Vec<_> = self.transitions.drain().collect();
        taken.sort_unstable_by_key(|(_, pending)| pending.arrival);
        taken
            .into_iter()
            .map(|(id, pending)| (id, pending.previous, pending.current))
            .collect()
    }

    pub(crate) fn has_transitions(&self) -> bool {
        !self.transitions.is_empty()
    }

    /// Counts a job that stopped being active.
    pub(crate) fn deactivate(&mut self) {
        self.active = self.active.saturating_sub(1);
        self.settled = self.settled.saturating_add(1);
    }

    pub(crate) fn give_up(&mut self, id: &Arc<str>, reason: String) {
        if let Some(job) = self.jobs.get_mut(id) {
            let was_active = job.phase.is_active();
            job.phase = Phase::GivenUp;
            if was_active {
                self.deactivate();
            }
        }
        self.fallbacks.remove(id);
        self.failed.insert(Arc::clone(id), reason);
    }

    /// Whether a `wait` whose jobs can all be done once `settled` reaches `rescan_at` has
    /// something to do: a scan, bodies for the pure path, a header refresh, or an end.
    pub(crate) fn wakes_waiter(&self, rescan_at: u64) -> bool {
        self.settled >= rescan_at
            || !self.fallbacks.is_empty()
            || (self.refresh_wanted && !self.refreshing)
            || self.closed
            || self.fatal.is_some()
    }

    /// Where the jobs of `wanted` stand.
    pub(crate) fn scan(&self, wanted: &[Arc<str>]) -> Progress {
        let mut progress = Progress {
            pending: 0,
            rejected: 0,
            terminal: Vec::new(),
            closed: self.closed,
        };
        for id in wanted {
            match self.jobs.get(id).map(|job| job.phase) {
                Some(Phase::Terminal) => progress.terminal.push(Arc::clone(id)),
                Some(phase) if phase.is_active() => {
                    progress.pending += 1;
                    progress.rejected += usize::from(self.errors.contains_key(id));
                }
                _ => {}
            }
        }
        progress
    }

    /// Whether nothing more will come: every job settled and everything handed over.
    pub(crate) fn finished(&self) -> bool {
        self.transitions.is_empty()
            && self.fallbacks.is_empty()
            && (self.active == 0 || self.closed || self.fatal.is_some())
    }
}
