//! The engine: the state behind its one mutex, the settings, and the network thread's life
//! (started lazily by the first `add`, told apart from a `fork` child's copy, stopped by
//! `close`). What the consumer asks of it is in `consumer.rs`; the loop is in `runtime.rs`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use iqm_runstatus_core::status::Vocabulary;
use reqwest::header::HeaderMap;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::{Error, Failure};
use crate::http::Fetch;
use crate::policy::Policy;
use crate::rng::Jitter;
use crate::settle::{Context, Record};
use crate::state::State;
use crate::wakeup::Wakeup;

/// The most connections (and requests in flight) an engine opens, whatever it is asked for.
pub const MAX_CONCURRENCY: usize = 4096;

/// What an engine is made with.
pub struct Settings {
    /// The base URL without a trailing slash.
    pub base: String,
    /// Requests in flight at most (capped at `MAX_CONCURRENCY`).
    pub concurrency: usize,
    /// The longest a request may take, connection included.
    pub timeout: Duration,
    pub max_body_size: usize,
    /// The headers given at construction; a provider's headers replace those of their names.
    pub headers: HeaderMap,
    pub policy: Policy,
    /// Whether headers come from a provider the consumer asks (`from_client`): jobs then wait
    /// for its first headers, and a 401 or 403 asks it again.
    pub has_provider: bool,
    /// The wall clock that `Retry-After` dates are read against.
    pub wall_clock: fn() -> SystemTime,
}

pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// Wakes the consumer's threads waiting for news.
    pub(crate) changed: Condvar,
    /// Wakes the scheduler.
    pub(crate) wake_loop: Notify,
    pub(crate) wakeup: Wakeup,
    /// Whether the fast parser gives the model's answer, as the consumer last checked.
    pub(crate) fast_parse: AtomicBool,
    pub(crate) tracker: Box<dyn Record>,
    pub(crate) vocabulary: &'static Vocabulary,
    pub(crate) settings: Settings,
}

impl Shared {
    pub(crate) fn lock(&self) -> Option<MutexGuard<'_, State>> {
        self.state.lock().ok()
    }

    pub(crate) fn context(&self, now: Instant) -> Context<'_> {
        Context {
            settings: &self.settings,
            vocabulary: self.vocabulary,
            tracker: &*self.tracker,
            fast_parse: self.fast_parse.load(Ordering::Relaxed),
            now,
        }
    }

    /// Tells the consumer that something changed.
    pub(crate) fn announce(&self) {
        self.changed.notify_all();
        self.wakeup.signal();
    }

    /// Records why the network thread stopped, for every later call to report.
    pub(crate) fn fail(&self, failure: Failure) {
        if let Some(mut state) = self.lock() {
            state.fatal = Some(failure);
        }
        self.announce();
    }
}

/// Polls the status of many jobs on a thread of its own and keeps what the consumer sees.
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The process that started the network loop (0 before it starts).
    started_by: AtomicU32,
}

impl Engine {
    /// An engine that has not started; `seed` seeds the jitter of every delay.
    pub fn new(
        mut settings: Settings,
        vocabulary: &'static Vocabulary,
        tracker: Box<dyn Record>,
        seed: u64,
    ) -> Engine {
        settings.concurrency = settings.concurrency.min(MAX_CONCURRENCY);
        let state = State::new(settings.headers.clone(), Jitter::new(seed));
        let shared = Shared {
            state: Mutex::new(state),
            changed: Condvar::new(),
            wake_loop: Notify::new(),
            wakeup: Wakeup::default(),
            fast_parse: AtomicBool::new(false),
            tracker,
            vocabulary,
            settings,
        };
        Engine {
            shared: Arc::new(shared),
            thread: Mutex::new(None),
            started_by: AtomicU32::new(0),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// Whether bodies may be parsed by the fast parser; when not, each goes to the pure path.
    pub fn set_fast_parse(&self, fast: bool) {
        self.shared.fast_parse.store(fast, Ordering::Relaxed);
    }

    /// Refuses to work on in a child of `fork`, where the network thread does not exist.
    pub fn check_process(&self) -> Result<(), Error> {
        let started_by = self.started_by.load(Ordering::Acquire);
        if started_by != 0 && started_by != std::process::id() {
            return Err(Error::OtherProcess);
        }
        Ok(())
    }

    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, State>, Error> {
        self.check_process()?;
        self.shared.lock().ok_or(Error::Poisoned)
    }

    /// Starts the network thread if the loop has not started.
    pub(crate) fn ensure_started(&self) -> Result<(), Error> {
        let mut thread = self.thread.lock().map_err(|_| Error::Poisoned)?;
        if thread.is_some() || self.started_by.load(Ordering::Acquire) != 0 {
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
                // A panic in a dependency must not leave the consumer waiting for ever.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    crate::runtime::run(Arc::clone(&shared));
                }));
                if outcome.is_err() {
                    shared.fail(Failure::Panicked);
                }
            })
            .map_err(Error::ThreadStart)?;
        *thread = Some(handle);
        self.started_by.store(std::process::id(), Ordering::Release);
        Ok(())
    }

    /// The network loop with `fetcher`, to run on the caller's runtime instead of a thread of
    /// the engine's own (tests drive it in paused time). Ask for it before the first `add`:
    /// the engine then starts no thread. It ends at `close`.
    pub fn driver<F: Fetch>(&self, fetcher: F) -> impl Future<Output = ()> + Send + 'static {
        self.started_by.store(std::process::id(), Ordering::Release);
        crate::runtime::schedule(Arc::clone(&self.shared), Arc::new(fetcher))
    }

    /// Cancels the requests in flight, joins the network thread and closes the wakeup
    /// descriptor; idempotent. Blocks until the thread ends: call it without the GIL.
    pub fn close(&self) -> Result<(), Error> {
        if self.check_process().is_err() {
            // The thread does not exist here: nothing to join.
            if let Ok(mut thread) = self.thread.lock() {
                std::mem::forget(thread.take());
            }
            self.shared.wakeup.close();
            return Ok(());
        }
        if let Some(mut state) = self.shared.lock() {
            state.closed = true;
        }
        self.shared.wake_loop.notify_one();
        // Wakes an event loop waiting on the wakeup descriptor before it is closed.
        self.shared.announce();
        let handle = self.thread.lock().map_err(|_| Error::Poisoned)?.take();
        if let Some(handle) = handle {
            handle.join().map_err(|_| Error::ThreadFailed)?;
        }
        self.shared.wakeup.close();
        Ok(())
    }

    /// The wakeup descriptor (made on first use); `None` once closed.
    pub fn wakeup_fd(&self) -> Result<Option<i32>, Error> {
        if self.lock()?.closed {
            return Ok(None);
        }
        self.shared.wakeup.fd().map(Some)
    }

    /// Empties the wakeup descriptor, so that the next change signals it again.
    pub fn drain_wakeup(&self) {
        self.shared.wakeup.drain();
    }
}

impl Drop for Engine {
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
        if let Some(mut state) = self.shared.lock() {
            state.closed = true;
        }
        self.shared.wake_loop.notify_one();
        drop(thread.take());
    }
}
