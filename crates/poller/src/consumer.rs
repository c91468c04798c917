//! What the consumer (the bindings) asks of the engine: jobs added and removed, the work only
//! it can do (bodies for the pure path, header refreshes) handed over and its results taken
//! back, transitions and progress, and the reports. Each call holds the lock for plain Rust
//! work only: the caller converts its arguments before and builds its results after.

use std::sync::Arc;
use std::time::Duration;

use iqm_runstatus_core::columns::Entry;
use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::engine::Engine;
use crate::error::Error;
use crate::http::is_path_segment;
use crate::policy::MAX_DELAY;
use crate::state::{Fallback, Phase, Rejection, Stats, Transition};

/// The work only the consumer can do, taken from the engine.
pub struct Service {
    /// Bodies the fast parser was not certain about, for the pure path.
    pub fallbacks: Vec<(Arc<str>, Fallback)>,
    /// Whether to ask the header provider now (then `finish_refresh` must follow).
    pub refresh: bool,
}

/// Where the jobs a consumer waits for stand.
#[derive(Debug)]
pub struct Progress {
    /// Jobs not yet terminal or given up.
    pub pending: usize,
    /// Pending jobs whose latest body was rejected.
    pub rejected: usize,
    /// The jobs that reached a terminal status.
    pub terminal: Vec<Arc<str>>,
    pub closed: bool,
}

/// A consumer waiting for some jobs to settle (`wait`). Each of the jobs pending at a scan has
/// to stop being active before all are done, so the jobs are scanned again only once as many
/// jobs settled (anywhere in the engine) as were pending then: not on every answer.
#[derive(Debug)]
pub struct Waiting {
    wanted: Vec<Arc<str>>,
    /// The engine's settled count at which the jobs can all be done.
    pub(crate) rescan_at: u64,
    scans: u64,
}

impl Waiting {
    /// The jobs waited for.
    pub fn wanted(&self) -> &[Arc<str>] {
        &self.wanted
    }

    /// How many times the jobs were scanned.
    pub fn scans(&self) -> u64 {
        self.scans
    }
}

/// The counts `repr` shows.
pub struct Summary {
    pub jobs: usize,
    pub pending: usize,
    pub failed: usize,
}

impl Engine {
    /// Starts polling `ids` at once (ids already added are left as they are), starting the
    /// network thread on the first call. Whether the consumer must ask the header provider now
    /// (the first add under a provider): then `finish_refresh` must follow.
    pub fn add(&self, ids: Vec<String>) -> Result<bool, Error> {
        if let Some(id) = ids.iter().find(|id| !is_path_segment(id)) {
            return Err(Error::NotASegment(id.clone()));
        }
        self.check_process()?;
        if self.lock()?.closed {
            return Err(Error::Closed);
        }
        if ids.is_empty() {
            return Ok(false);
        }
        self.ensure_started()?;
        let first = {
            let mut guard = self.lock()?;
            let state = &mut *guard;
            let settings = &self.shared.settings;
            let interval = settings.policy.interval;
            // Until the provider gave headers, jobs wait for them: no request goes out without.
            let unprimed = settings.has_provider && !state.primed;
            let now = Instant::now();
            for id in ids {
                state.insert_job(Arc::from(id), interval, unprimed, now);
            }
            let first = unprimed && !state.refreshing;
            state.refreshing |= first;
            // Another thread's refresh under way takes these jobs along when it ends.
            state.refresh_wanted |= unprimed;
            first
        };
        self.shared.wake_loop.notify_one();
        Ok(first)
    }

    /// Stops polling `ids`; unknown ids are ignored. How many were removed.
    pub fn remove(&self, ids: &[String]) -> Result<usize, Error> {
        let mut guard = self.lock()?;
        let state = &mut *guard;
        let mut removed = 0;
        for id in ids {
            if let Some(job) = state.jobs.remove(id.as_str()) {
                removed += 1;
                if job.phase.is_active() {
                    state.deactivate();
                }
                state.fallbacks.remove(id.as_str());
                state.errors.remove(id.as_str());
                state.failed.remove(id.as_str());
            }
        }
        drop(guard);
        self.shared.announce();
        Ok(removed)
    }

    /// Takes the consumer's work: the bodies for the pure path, and whether to refresh the
    /// headers (asked for, or due).
    pub fn take_service(&self) -> Result<Service, Error> {
        let mut state = self.lock()?;
        let fallbacks = std::mem::take(&mut state.fallbacks).into_iter().collect();
        let due = state.refresh_at.is_some_and(|at| at <= Instant::now());
        let refresh =
            self.shared.settings.has_provider && (state.refresh_wanted || due) && !state.refreshing;
        if refresh {
            state.refreshing = true;
        }
        Ok(Service { fallbacks, refresh })
    }

    /// The pure path's answer for a body taken by `take_service`: the status, or why the body
    /// was rejected. Ignored if a newer body came, or the job was removed or settled.
    pub fn apply_fallback(
        &self,
        id: &Arc<str>,
        fallback: &Fallback,
        outcome: Result<Entry<'_>, Rejection>,
    ) -> Result<(), Error> {
        let mut state = self.lock()?;
        let current = state.jobs.get(id).is_some_and(|job| {
            job.generation == fallback.generation
                && job.bodies == fallback.body
                && job.phase.is_active()
        });
        if !current {
            return Ok(());
        }
        let cx = self.shared.context(Instant::now());
        match outcome {
            Ok(entry) => {
                state
                    .apply_entry(&cx, id, &entry, false)
                    .map_err(Error::Tracker)?;
            }
            Err(error) => state.rejected(&cx, id, error, false),
        }
        Ok(())
    }

    /// Tells the consumer's threads that the state changed.
    pub fn announce(&self) {
        self.shared.announce();
    }

    /// A refresh that was interrupted (not failed): tried again at the next service.
    pub fn refresh_interrupted(&self) {
        if let Ok(mut state) = self.lock() {
            state.refreshing = false;
            state.refresh_wanted = true;
        }
    }

    /// The provider's answer: new headers (valid for a while, if it says), or why there are
    /// none. The jobs waiting for headers are polled at once, or given up if there are none.
    pub fn finish_refresh(
        &self,
        fresh: Result<(HeaderMap, Option<Duration>), String>,
    ) -> Result<(), Error> {
        let mut guard = self.lock()?;
        let state = &mut *guard;
        state.refreshing = false;
        state.refresh_wanted = false;
        let waiting: Vec<(Arc<str>, Phase)> = state
            .jobs
            .iter()
            .filter(|(_, job)| matches!(job.phase, Phase::AwaitingAuth | Phase::AwaitingHeaders))
            .map(|(id, job)| (Arc::clone(id), job.phase))
            .collect();
        let now = Instant::now();
        match fresh {
            Ok((mut headers, valid_for)) => {
                state.primed = true;
                for (name, value) in &self.shared.settings.headers {
                    if !headers.contains_key(name) {
                        headers.insert(name.clone(), value.clone());
                    }
                }
                state.headers = Arc::new(headers);
                state.refresh_at =
                    valid_for.map(|delay| now.checked_add(delay.min(MAX_DELAY)).unwrap_or(now));
                for (id, phase) in waiting {
                    if let Some(job) = state.jobs.get_mut(&id) {
                        job.phase = Phase::Polling;
                        // A job refused before is given up if the new headers are refused too.
                        job.auth_refreshed = phase == Phase::AwaitingAuth;
                        let generation = job.generation;
                        state.schedule(&id, generation, Duration::ZERO, now);
                    }
                }
                self.shared.wake_loop.notify_one();
            }
            Err(why) => {
                state.stats.auth_refresh_failures += 1;
                // A refresh on a schedule is tried again later (the old headers stay until
                // then); jobs that cannot be polled without new headers give up now.
                state.refresh_at = now.checked_add(self.shared.settings.policy.interval);
                for (id, phase) in waiting {
                    let reason = if phase == Phase::AwaitingAuth {
                        format!("refused, and refreshing the headers failed: {why}")
                    } else {
                        format!("the headers could not be obtained from the client: {why}")
                    };
                    state.give_up(&id, reason);
                }
            }
        }
        drop(guard);
        self.shared.announce();
        Ok(())
    }

    /// The added jobs among `given` (all added jobs for `None`); `UnknownJob` for one that
    /// was not added.
    pub fn resolve(&self, given: Option<Vec<String>>) -> Result<Vec<Arc<str>>, Error> {
        let state = self.lock()?;
        match given {
            Some(given) => {
                let mut wanted = Vec::with_capacity(given.len().min(state.jobs.len()));
                for id in given {
                    match state.jobs.get_key_value(id.as_str()) {
                        Some((key, _)) => wanted.push(Arc::clone(key)),
                        None => return Err(Error::UnknownJob(id)),
                    }
                }
                Ok(wanted)
            }
            None => Ok(state.jobs.keys().cloned().collect()),
        }
    }

    /// Where the jobs of `wanted` stand; the network thread's failure, if it stopped.
    pub fn progress(&self, wanted: &[Arc<str>]) -> Result<Progress, Error> {
        let state = self.lock()?;
        if let Some(failure) = state.fatal.clone() {
            return Err(Error::Stopped(failure));
        }
        Ok(state.scan(wanted))
    }

    /// Starts waiting for `wanted` (see `resolve`).
    pub fn waiting(&self, wanted: Vec<Arc<str>>) -> Waiting {
        Waiting {
            wanted,
            rescan_at: 0,
            scans: 0,
        }
    }

    /// Where the jobs of `waiting` stand, scanned only if they can all be done, the poller
    /// closed, or `fresh` is asked (exact counts for a timeout's message); `None` when not
    /// scanned. The network thread's failure, if it stopped.
    pub fn wait_progress(
        &self,
        waiting: &mut Waiting,
        fresh: bool,
    ) -> Result<Option<Progress>, Error> {
        let state = self.lock()?;
        if let Some(failure) = state.fatal.clone() {
            return Err(Error::Stopped(failure));
        }
        if !(fresh || state.closed || state.settled >= waiting.rescan_at) {
            return Ok(None);
        }
        let progress = state.scan(&waiting.wanted);
        waiting.rescan_at = state.settled.saturating_add(progress.pending as u64);
        waiting.scans += 1;
        Ok(Some(progress))
    }

    /// Waits up to `slice` until `waiting` has something to do (see `State::wakes_waiter`);
    /// answers that settle nothing let it sleep on. Blocks: call it without the GIL.
    pub fn wait_for_change(&self, waiting: &Waiting, slice: Duration) {
        if let Some(state) = self.shared.lock() {
            let _ = self
                .shared
                .changed
                .wait_timeout_while(state, slice, |state| !state.wakes_waiter(waiting.rescan_at));
        }
    }

    /// The transitions not yet taken, in the order they came; `None` once nothing more will
    /// come (every job settled and everything handed over).
    pub fn take_transitions(&self) -> Result<Option<Vec<Transition>>, Error> {
        let mut state = self.lock()?;
        if let Some(failure) = state.fatal.clone() {
            return Err(Error::Stopped(failure));
        }
        if state.finished() {
            return Ok(None);
        }
        Ok(Some(state.take_transitions()))
    }

    /// Waits up to `slice` unless transitions or bodies for the pure path are waiting. Blocks:
    /// call it without the GIL.
    pub fn wait_for_transitions(&self, slice: Duration) {
        if let Some(state) = self.shared.lock() {
            if !state.has_transitions() && state.fallbacks.is_empty() {
                let _ = self.shared.changed.wait_timeout(state, slice);
            }
        }
    }

    /// The jobs given up, each with the reason.
    pub fn failed(&self) -> Result<Vec<(String, String)>, Error> {
        let state = self.lock()?;
        Ok(state
            .failed
            .iter()
            .map(|(id, why)| (id.to_string(), why.clone()))
            .collect())
    }

    /// The jobs whose latest body was rejected: (id, error type name, message).
    pub fn errors(&self) -> Result<Vec<(String, String, String)>, Error> {
        let state = self.lock()?;
        Ok(state
            .errors
            .iter()
            .map(|(id, (kind, message))| (id.to_string(), kind.clone(), message.clone()))
            .collect())
    }

    /// The counters, and the requests made for each job.
    pub fn stats(&self) -> Result<(Stats, Vec<(String, u64)>), Error> {
        let state = self.lock()?;
        let polls = state
            .jobs
            .iter()
            .map(|(id, job)| (id.to_string(), job.polls))
            .collect();
        Ok((state.stats.clone(), polls))
    }

    pub fn summary(&self) -> Result<Summary, Error> {
        let state = self.lock()?;
        Ok(Summary {
            jobs: state.jobs.len(),
            pending: state.active,
            failed: state.failed.len(),
        })
    }
}
