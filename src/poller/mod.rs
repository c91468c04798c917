//! `StatusPoller`: the Python class over the engine of the `iqm_runstatus_poller` crate, which
//! polls `GET {base}/jobs/{id}/status` for many jobs from a network thread in Rust and feeds
//! each body to the tracker's parser without the GIL. Python sees transitions.
//!
//! The engine's state sits behind one mutex held for plain Rust work only, so the Python side
//! can lock it with the GIL held: arguments are converted before a call into the engine and
//! Python objects built after it. Bodies the fast parser is not certain about, and header
//! refreshes, need Python: the network thread never takes the GIL, it queues them, and the
//! thread that iterates or waits handles them (`service.rs`).
//!
//! - `args.rs`: the constructor's and the methods' arguments.
//! - `service.rs`: the pure path and the header provider.
//! - `iterate.rs`: iteration and `wait`.

mod args;
mod iterate;
mod service;

use std::collections::BTreeMap;
use std::sync::Mutex;

use iqm_runstatus_core::columns::Entry;
use iqm_runstatus_core::status::StatusCode;
use iqm_runstatus_core::Error as CoreError;
use iqm_runstatus_poller::{Engine, Record};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pyclass::{PyTraverseError, PyVisit};
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::errors::poller_to_py;
use crate::errors::Error;
use crate::instances::new_named_tuple;
use crate::model::{vocabulary, Model};
use crate::tracker::{named_tuple, JobTracker, SharedTracker, TRACKER_ERROR};
use args::{job_ids, Arguments};
use iterate::WAIT_SLICE;

impl Record for SharedTracker {
    fn record(&self, id: &str, entry: &Entry<'_>) -> Result<Option<Option<StatusCode>>, CoreError> {
        SharedTracker::record(self, id, entry)
    }
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
    engine: Engine,
    tracker: Py<JobTracker>,
    /// Taken out by `__clear__`, so that a cycle through it (a provider that refers to its
    /// client, which holds this poller) can be collected.
    provider: Mutex<Option<Py<PyAny>>>,
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
        let settings = args::settings(Arguments {
            base_url,
            token,
            headers,
            concurrency,
            interval,
            max_interval,
            timeout,
            max_retries,
            max_body_size,
            has_provider: _header_provider.is_some(),
        })?;
        let vocabulary = vocabulary().ok_or(Error::NotInitialised)?;
        let seed = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), 0u8);
        let tracker = JobTracker::empty();
        let engine = Engine::new(settings, vocabulary, Box::new(tracker.shared()), seed);
        Ok(StatusPoller {
            engine,
            tracker: Py::new(py, tracker)?,
            provider: Mutex::new(_header_provider),
        })
    }

    /// Starts polling these jobs (a ``str`` or ``uuid.UUID`` is one id; otherwise an iterable
    /// of them) at once; ids already added are polled once. Allowed while polling. ``""``,
    /// ``.`` and ``..`` are refused with ``ValueError``: each id is one path segment.
    fn add(&self, py: Python<'_>, job_ids: &Bound<'_, PyAny>) -> PyResult<()> {
        let ids = self::job_ids(job_ids)?;
        if !ids.is_empty() {
            self.engine.set_fast_parse(Model::get(py)?.is_current(py));
        }
        if self.engine.add(ids).map_err(poller_to_py)? {
            self.refresh_headers(py)?;
        }
        Ok(())
    }

    /// Stops polling these jobs (one ``str`` or ``uuid.UUID`` is one id); unknown ids are
    /// ignored. Their last status stays in ``tracker``. Returns how many were removed.
    fn remove(&self, job_ids: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ids = self::job_ids(job_ids)?;
        self.engine.remove(&ids).map_err(poller_to_py)
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
        self.wait_for(py, job_ids, timeout)
    }

    /// The ``JobTracker`` the poller feeds; readable from any thread while it polls.
    #[getter]
    fn tracker(&self, py: Python<'_>) -> Py<JobTracker> {
        self.tracker.clone_ref(py)
    }

    /// The jobs given up, each with the reason.
    #[getter]
    fn failed(&self) -> PyResult<BTreeMap<String, String>> {
        Ok(self
            .engine
            .failed()
            .map_err(poller_to_py)?
            .into_iter()
            .collect())
    }

    /// A ``TrackerError`` for each job whose latest body was rejected (its last good status is
    /// kept, and it is polled again on its schedule).
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let mut errors = self.engine.errors().map_err(poller_to_py)?;
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
        let (stats, polls) = self.engine.stats().map_err(poller_to_py)?;
        let result = PyDict::new(py);
        result.set_item("requests", stats.requests)?;
        result.set_item("responses", stats.responses)?;
        result.set_item("retries", stats.retries)?;
        result.set_item("timeouts", stats.timeouts)?;
        result.set_item("transport_errors", stats.transport_errors)?;
        result.set_item("bytes", stats.bytes)?;
        result.set_item("auth_refresh_failures", stats.auth_refresh_failures)?;
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
        py.detach(|| self.engine.close()).map_err(poller_to_py)
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
        let summary = self.engine.summary().map_err(poller_to_py)?;
        Ok(format!(
            "StatusPoller({:?}, jobs={}, pending={}, failed={})",
            self.engine.settings().base,
            summary.jobs,
            summary.pending,
            summary.failed
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
        Ok(self.engine.wakeup_fd().map_err(poller_to_py)?.unwrap_or(-1))
    }

    /// Empties the wakeup descriptor, so that the next change signals it again.
    fn _drain_wakeup(&self) {
        self.engine.drain_wakeup();
    }
}
