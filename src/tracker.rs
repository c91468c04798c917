//! `JobTracker`: the latest status of many jobs, updated from polled payloads.
//!
//! Payloads are parsed with the batch parse (without the GIL, in parallel when many). The state
//! sits behind a mutex that is only held for plain Rust work, never while Python code runs, so
//! the tracker can be shared between threads.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use hashbrown::HashTable;

use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};

use crate::arrow::ArrowSnapshot;
use crate::batch::StatusBatch;
use crate::convert::{run_status_from_entry, status_mask, GcPause};
use crate::errors::core_to_py;
use crate::instances::{check_named_tuple, new_named_tuple};
use crate::model::Model;
use crate::payloads::{is_payload, not_a_payload, thread_count, Payloads};
use iqm_runstatus_core::columns::{Entry, OutsideHash, OwnedEntry};
use iqm_runstatus_core::status::StatusCode;
use iqm_runstatus_core::Error as CoreError;

static UUID: PyOnceLock<Py<PyType>> = PyOnceLock::new();
pub static TRANSITION: PyOnceLock<Py<PyType>> = PyOnceLock::new();
pub static TRACKER_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// One of the three-field `NamedTuple`s of `iqm_runstatus._records`, imported and checked once.
pub fn named_tuple<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    imported_once(py, cell, || {
        let class = py
            .import("iqm_runstatus._records")?
            .getattr(name)?
            .cast_into::<PyType>()?;
        check_named_tuple(&class, 3)?;
        Ok(class)
    })
}

/// The class in `cell`, imported by `import` the first time. The import runs outside the cell:
/// it runs Python code (an import hook, a finalizer), which may ask for the same class, and a
/// cell whose initialization is entered again waits on itself for ever. The first class set is
/// the one every caller gets.
fn imported_once<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    import: impl FnOnce() -> PyResult<Bound<'py, PyType>>,
) -> PyResult<&'py Bound<'py, PyType>> {
    if let Some(class) = cell.get(py) {
        return Ok(class.bind(py));
    }
    let class = import()?;
    let _ = cell.set(py, class.unbind());
    let class = cell
        .get(py)
        .ok_or_else(|| core_to_py(CoreError::BadState("a class set once")))?;
    Ok(class.bind(py))
}

/// A rejected payload as a `TrackerError`.
fn tracker_error<'py>(
    py: Python<'py>,
    (job_id, error_type, message): &(String, String, String),
) -> PyResult<Bound<'py, PyAny>> {
    let class = named_tuple(py, &TRACKER_ERROR, "TrackerError")?;
    let fields = [job_id, error_type, message].map(|text| PyString::new(py, text).into_any());
    new_named_tuple(class, fields)
}

/// The argument `job_id` as a Python `str`: a `str` as it is, a `uuid.UUID` as its canonical
/// string form.
fn job_str<'py>(id: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    match one_job_str(id)? {
        Some(text) => Ok(text),
        None => Err(not_a_job_id(id, "job_id")),
    }
}

/// `id` as a job id if it is a `str` or a `uuid.UUID`.
fn one_job_str<'py>(id: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyString>>> {
    if let Ok(text) = id.cast::<PyString>() {
        return Ok(Some(text.clone()));
    }
    if id.is_instance(uuid_class(id.py())?.as_any())? {
        return Ok(Some(id.str()?));
    }
    Ok(None)
}

/// `uuid.UUID`, imported once.
fn uuid_class(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    imported_once(py, &UUID, || {
        Ok(py.import("uuid")?.getattr("UUID")?.cast_into::<PyType>()?)
    })
}

fn not_a_job_id(id: &Bound<'_, PyAny>, argument: &str) -> PyErr {
    let type_name = id
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |name| name.to_string());
    PyTypeError::new_err(format!(
        "{argument}: job ids must be str or uuid.UUID, not {type_name}"
    ))
}

/// The job ids of the argument `argument`: a `str` or `uuid.UUID` is ONE id, anything else an
/// iterable of them. `bytes` (an iterable of ints) and other non-ids are a `TypeError` naming
/// the argument and the type. Runs Python code (iteration, `UUID.__str__`): never call it
/// with a lock held.
pub fn job_id_list<'py>(
    job_ids: &Bound<'py, PyAny>,
    argument: &str,
) -> PyResult<Vec<Bound<'py, PyString>>> {
    if let Some(one) = one_job_str(job_ids)? {
        return Ok(vec![one]);
    }
    if job_ids.is_instance_of::<pyo3::types::PyBytes>()
        || job_ids.is_instance_of::<pyo3::types::PyByteArray>()
        || job_ids.is_instance_of::<pyo3::types::PyMemoryView>()
    {
        return Err(not_a_job_id(job_ids, argument));
    }
    let Ok(items) = job_ids.try_iter() else {
        return Err(not_a_job_id(job_ids, argument));
    };
    items
        .map(|id| {
            let id = id?;
            one_job_str(&id)?.ok_or_else(|| not_a_job_id(&id, argument))
        })
        .collect()
}

/// A job id as stored.
fn job_key(id: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(job_str(id)?.to_str()?.to_owned())
}

struct Job {
    id: Box<str>,
    latest: OwnedEntry,
}

/// Jobs in the order they were first seen; forgotten ones leave a hole until compaction.
#[derive(Default)]
struct State {
    by_position: Vec<Option<Job>>,
    /// The position of each job, found by hashing its id and comparing with the id stored there:
    /// an id is stored once, and an entry of the index is one word.
    index: HashTable<usize>,
    hash: OutsideHash,
    last_errors: Vec<(String, String, String)>,
}

impl State {
    fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.by_position.iter().flatten()
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    /// The position of `id`, trying `hint` before the index: a poll usually lists jobs in the
    /// order of the previous one, and a position read in order costs far less than a random probe.
    fn find(&self, id: &str, hint: usize) -> Option<usize> {
        if holds(&self.by_position, hint, id) {
            Some(hint)
        } else {
            self.lookup(id)
        }
    }

    fn lookup(&self, id: &str) -> Option<usize> {
        let by_position = &self.by_position;
        self.index
            .find(self.hash.of(id.as_bytes()), |&at| {
                holds(by_position, at, id)
            })
            .copied()
    }

    fn get(&self, id: &str) -> Option<&Job> {
        self.lookup(id)
            .and_then(|at| self.by_position.get(at))
            .and_then(Option::as_ref)
    }

    /// Stores `latest` for `id`, found at `position` (see `find`); the previous status if it
    /// changed (`Some(None)` for a new job).
    fn set(
        &mut self,
        id: &str,
        position: Option<usize>,
        latest: &Entry<'_>,
    ) -> Option<Option<StatusCode>> {
        match position
            .and_then(|at| self.by_position.get_mut(at))
            .and_then(Option::as_mut)
        {
            Some(job) => {
                let previous = job.latest.status;
                // Most polls repeat the last answer: compare before allocating a copy.
                if !job.latest.same_as(latest) {
                    job.latest = latest.to_owned_entry();
                }
                (previous != latest.status).then_some(Some(previous))
            }
            None => {
                let at = self.by_position.len();
                self.by_position.push(Some(Job {
                    id: id.into(),
                    latest: latest.to_owned_entry(),
                }));
                self.index_position(at);
                Some(None)
            }
        }
    }

    /// Adds the job at position `at` to the index.
    fn index_position(&mut self, at: usize) {
        let State {
            by_position,
            index,
            hash,
            ..
        } = self;
        let hash_of = |at: &usize| {
            by_position
                .get(*at)
                .and_then(Option::as_ref)
                .map_or(0, |job| hash.of(job.id.as_bytes()))
        };
        index.insert_unique(hash_of(&at), at, hash_of);
    }

    fn forget(&mut self, id: &str) -> bool {
        let by_position = &self.by_position;
        let Ok(entry) = self.index.find_entry(self.hash.of(id.as_bytes()), |&at| {
            holds(by_position, at, id)
        }) else {
            return false;
        };
        let (at, _) = entry.remove();
        if let Some(job) = self.by_position.get_mut(at) {
            *job = None;
        }
        // Compact once holes outnumber jobs, so that forgetting stays cheap on average.
        if self.by_position.len() > 2 * self.index.len() + 64 {
            self.by_position.retain(Option::is_some);
            self.index.clear();
            for at in 0..self.by_position.len() {
                self.index_position(at);
            }
        }
        true
    }
}

/// Whether position `at` holds the job `id`.
fn holds(by_position: &[Option<Job>], at: usize, id: &str) -> bool {
    matches!(by_position.get(at), Some(Some(job)) if &*job.id == id)
}

/// The latest status of many jobs, updated from polled status payloads; safe to share
/// between threads.
///
/// Job ids are ``str`` or ``uuid.UUID``; a UUID is stored, and given back, as ``str(uuid)``.
/// ``update_many`` returns the transitions; payloads the reference rejects leave their job's
/// last good state untouched, and are added to the call's ``errors`` list if one is given and
/// listed in ``last_errors`` until the next update.
#[pyclass(frozen, module = "iqm_runstatus._core")]
pub struct JobTracker {
    state: Arc<Mutex<State>>,
    /// The process that handed the state to a `StatusPoller`'s thread (0: none). In a child of
    /// `fork` that thread is gone, and a lock it held at the fork would never be released.
    shared_in: AtomicU32,
}

/// How long a forked child tries for the lock of a state that a poller's thread shared in the
/// parent before it concludes that the lock was held across the fork.
const LOCK_AFTER_FORK: Duration = Duration::from_millis(200);

/// A tracker's state, shared with the threads of a `StatusPoller` that feed it without Python.
#[derive(Clone)]
pub struct SharedTracker(Arc<Mutex<State>>);

impl SharedTracker {
    /// Stores `entry` as the latest status of `id`; the previous status if it changed
    /// (`Some(None)` for a new job), as `update_many` decides it.
    pub fn record(
        &self,
        id: &str,
        entry: &Entry<'_>,
    ) -> Result<Option<Option<StatusCode>>, CoreError> {
        let mut state = self
            .0
            .lock()
            .map_err(|_| CoreError::BadState("the tracker's state is poisoned"))?;
        let position = state.lookup(id);
        Ok(state.set(id, position, entry))
    }
}

impl JobTracker {
    /// A tracker with no jobs, for a `StatusPoller` to feed.
    pub fn empty() -> Self {
        Self::new()
    }

    pub fn shared(&self) -> SharedTracker {
        self.shared_in.store(std::process::id(), Ordering::Release);
        SharedTracker(Arc::clone(&self.state))
    }

    fn lock(&self) -> PyResult<MutexGuard<'_, State>> {
        let poisoned = || PyRuntimeError::new_err("the tracker's state is poisoned");
        let shared_in = self.shared_in.load(Ordering::Acquire);
        if shared_in == 0 || shared_in == std::process::id() {
            return self.state.lock().map_err(|_| poisoned());
        }
        // A child of fork: other threads of this process hold the lock only for moments, so a
        // lock still held after a while was held by the parent's poller thread at the fork.
        let started = Instant::now();
        loop {
            match self.state.try_lock() {
                Ok(guard) => return Ok(guard),
                Err(TryLockError::Poisoned(_)) => return Err(poisoned()),
                Err(TryLockError::WouldBlock) if started.elapsed() < LOCK_AFTER_FORK => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(PyRuntimeError::new_err(
                        "this JobTracker was being updated by a StatusPoller's thread when the \
                         process forked; that thread did not survive fork() and the state it was \
                         changing is lost to this process: make a new tracker here",
                    ))
                }
            }
        }
    }

    /// The `RunStatus` of each of `ids`, in their order (`KeyError` for one it does not know,
    /// as `status`): the entries are copied under one lock, the objects built after it.
    pub fn statuses<'py, I: AsRef<str>>(
        &self,
        py: Python<'py>,
        ids: &[I],
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let found: Result<Vec<OwnedEntry>, &str> = {
            let state = self.lock()?;
            ids.iter()
                .map(|id| {
                    let id = id.as_ref();
                    state.get(id).map(|job| job.latest.clone()).ok_or(id)
                })
                .collect()
        };
        let found = found.map_err(|id| PyKeyError::new_err(id.to_owned()))?;
        let model = Model::get(py)?;
        found
            .iter()
            .map(|latest| run_status_from_entry(py, model, &latest.borrow()))
            .collect()
    }

    fn latest(&self, id: &Bound<'_, PyAny>) -> PyResult<OwnedEntry> {
        let key = job_key(id)?;
        let state = self.lock()?;
        match state.get(&key) {
            Some(job) => Ok(job.latest.clone()),
            None => Err(PyKeyError::new_err(key)),
        }
    }
}

#[pymethods]
impl JobTracker {
    #[new]
    fn new() -> Self {
        JobTracker {
            state: Arc::new(Mutex::new(State::default())),
            shared_in: AtomicU32::new(0),
        }
    }

    /// Updates one job; see `update_many`. Returns its ``Transition``, or ``None`` if its
    /// status did not change.
    #[pyo3(signature = (job_id, payload, *, errors = None))]
    fn update<'py>(
        &self,
        py: Python<'py>,
        job_id: &Bound<'py, PyAny>,
        payload: &Bound<'py, PyAny>,
        errors: Option<&Bound<'py, PyList>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        if !is_payload(payload) {
            return Err(not_a_payload(payload, None));
        }
        let job_ids = PyList::new(py, [job_str(job_id)?])?;
        let payloads = PyList::new(py, [payload])?;
        let transitions = self.update_all(py, job_ids.as_any(), payloads.as_any(), 1, errors)?;
        transitions
            .iter()
            .next()
            .map_or(Ok(None), |first| Ok(Some(first)))
    }

    /// Parses ``payloads[i]`` as the latest status of ``job_ids[i]``, in order. A ``str`` or
    /// ``uuid.UUID`` given as ``job_ids`` is one job id (then ``payloads`` holds one payload);
    /// ids of any other type (``bytes`` too) are a ``TypeError``.
    ///
    /// Returns ``(job_id, previous Status or None, new Status)`` for each job whose status
    /// changed (``None`` for a job seen for the first time). Raises ``ValueError``, before any
    /// change, if the two have different lengths. ``(job_id, exception type name, message)``
    /// for each rejected payload is appended to ``errors`` if it is given: unlike
    /// ``last_errors``, no other thread's update can replace them.
    #[pyo3(signature = (job_ids, payloads, *, threads = None, errors = None))]
    fn update_many<'py>(
        &self,
        py: Python<'py>,
        job_ids: &Bound<'py, PyAny>,
        payloads: &Bound<'py, PyAny>,
        threads: Option<&Bound<'py, PyAny>>,
        errors: Option<&Bound<'py, PyList>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let threads = thread_count(threads)?;
        self.update_all(py, job_ids, payloads, threads, errors)
    }

    /// ``(job_id, exception type name, message)`` for each payload the last update rejected.
    #[getter]
    fn last_errors<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let errors = self.lock()?.last_errors.clone();
        errors
            .iter()
            .map(|error| tracker_error(py, error))
            .collect()
    }

    /// The latest ``RunStatus`` of a job; ``KeyError`` if it is unknown.
    fn status<'py>(&self, py: Python<'py>, job_id: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        let latest = self.latest(job_id)?;
        Ok(run_status_from_entry(py, Model::get(py)?, &latest.borrow())?.unbind())
    }

    /// Whether a job is in a terminal status (the set `init` registered, such as ready, failed
    /// or aborted); ``KeyError`` if it is unknown.
    fn is_terminal(&self, py: Python<'_>, job_id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let vocabulary = Model::get(py)?.vocabulary;
        Ok(vocabulary.is_terminal(self.latest(job_id)?.status))
    }

    /// The number of jobs in each status: every ``Status`` member, in enum order.
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let codes: Vec<u8> = self
            .lock()?
            .jobs()
            .map(|job| job.latest.status.code())
            .collect();
        Model::get(py)?.status_counts(py, codes)
    }

    /// The ids of the jobs in any of ``statuses`` (every job if none is given), in the order
    /// they were first seen.
    #[pyo3(signature = (*statuses))]
    fn jobs(&self, py: Python<'_>, statuses: &Bound<'_, PyTuple>) -> PyResult<Vec<String>> {
        let wanted = status_mask(py, statuses)?;
        Ok(self
            .lock()?
            .jobs()
            .filter(|job| wanted.get(job.latest.status.index()) == Some(&true))
            .map(|job| job.id.to_string())
            .collect())
    }

    /// Stops tracking these jobs (one ``str`` or ``uuid.UUID`` is one job; otherwise an
    /// iterable of them); unknown ids are ignored. Returns how many were forgotten.
    fn forget(&self, job_ids: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ids = job_id_list(job_ids, "job_ids")?
            .iter()
            .map(|id| Ok(id.to_str()?.to_owned()))
            .collect::<PyResult<Vec<String>>>()?;
        let mut state = self.lock()?;
        Ok(ids.iter().filter(|id| state.forget(id)).count())
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.lock()?.len())
    }

    fn __contains__(&self, job_id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let key = job_key(job_id)?;
        Ok(self.lock()?.lookup(&key).is_some())
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok(format!("JobTracker(jobs={})", self.lock()?.len()))
    }

    /// A snapshot of every job's latest status in Arrow form (an ``ArrowSnapshot``, read by
    /// ``pyarrow.table``, ``polars.DataFrame`` or DuckDB): ``job_id`` first, then the columns of
    /// a ``StatusBatch`` export, in the order the jobs were first seen.
    fn to_arrow(&self, py: Python<'_>) -> PyResult<ArrowSnapshot> {
        let (ids, batch) = {
            let state = self.lock()?;
            let ids: Vec<String> = state.jobs().map(|job| job.id.to_string()).collect();
            let entries: Vec<&OwnedEntry> = state.jobs().map(|job| &job.latest).collect();
            (ids, StatusBatch::from_entries(&entries)?)
        };
        let columns = batch.columns();
        let vocabulary = Model::get(py)?.vocabulary;
        let table =
            py.detach(|| crate::arrow::record_batch(vocabulary, columns, &[], Some(&ids)))?;
        Ok(ArrowSnapshot::new(table))
    }

    /// Pickles the job ids and their latest statuses (as a `StatusBatch`); not `last_errors`.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let (ids, batch) = {
            let state = slf.get().lock()?;
            let ids: Vec<String> = state.jobs().map(|job| job.id.to_string()).collect();
            let entries: Vec<&OwnedEntry> = state.jobs().map(|job| &job.latest).collect();
            (ids, StatusBatch::from_entries(&entries)?)
        };
        let rebuild = slf.get_type().getattr("_from_state")?;
        (rebuild, ((ids, Bound::new(py, batch)?),)).into_pyobject(py)
    }

    #[staticmethod]
    fn _from_state(state: (Vec<String>, Bound<'_, StatusBatch>)) -> PyResult<Self> {
        let (ids, batch) = state;
        let columns = batch.get().columns();
        if ids.len() != columns.len() {
            return Err(core_to_py(CoreError::BadState(
                "ids and statuses differ in length",
            )));
        }
        let mut tracked = State::default();
        for (at, id) in ids.iter().enumerate() {
            let entry = columns
                .entry(at)
                .ok_or_else(|| core_to_py(CoreError::BadState("a tracked job has no status")))?;
            let position = tracked.find(id, at);
            if tracked.set(id, position, &entry) != Some(None) {
                return Err(core_to_py(CoreError::BadState("a job id appears twice")));
            }
        }
        Ok(JobTracker {
            state: Arc::new(Mutex::new(tracked)),
            shared_in: AtomicU32::new(0),
        })
    }
}

impl JobTracker {
    /// `update_many` with the thread count decided.
    fn update_all<'py>(
        &self,
        py: Python<'py>,
        job_ids: &Bound<'py, PyAny>,
        payloads: &Bound<'py, PyAny>,
        threads: usize,
        errors: Option<&Bound<'py, PyList>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let model = Model::get(py)?;
        let id_objects = job_id_list(job_ids, "job_ids")?;
        // Borrowed from the str objects: a known job's id is never copied.
        let ids = id_objects
            .iter()
            .map(|id| id.to_str())
            .collect::<PyResult<Vec<&str>>>()?;
        let payloads = Payloads::collect(payloads)?;
        if ids.len() != payloads.len() {
            return Err(PyValueError::new_err(format!(
                "{} job ids but {} payloads",
                ids.len(),
                payloads.len()
            )));
        }
        let batch = StatusBatch::from_payload_objects(&payloads, threads)?;
        let mut transitions = Vec::new();
        // This call's rejected payloads are the new `last_errors`, taken before the lock goes.
        let rejected = {
            let mut state = self.lock()?;
            state.last_errors.clear();
            let mut hint = 0;
            for (at, id) in ids.iter().enumerate() {
                if let Some(entry) = batch.columns().entry(at) {
                    let position = state.find(id, hint);
                    hint = position.unwrap_or(state.by_position.len()) + 1;
                    if let Some(previous) = state.set(id, position, &entry) {
                        transitions.push((at, previous, entry.status));
                    }
                } else if let Some(error) = batch.error_at(at) {
                    hint += 1;
                    let error = (
                        (*id).to_owned(),
                        error.type_name().to_owned(),
                        error.message().to_owned(),
                    );
                    state.last_errors.push(error);
                }
            }
            errors.map(|_| state.last_errors.clone())
        };
        if let (Some(errors), Some(rejected)) = (errors, rejected) {
            for error in &rejected {
                errors.append(tracker_error(py, error)?)?;
            }
        }
        let member = |status: StatusCode| -> PyResult<Bound<'_, PyAny>> {
            Ok(model.member(status)?.bind(py).clone())
        };
        let transition = named_tuple(py, &TRANSITION, "Transition")?;
        let _paused = GcPause::new(py)?;
        let items = transitions
            .into_iter()
            .map(|(at, previous, status)| {
                let id = id_objects
                    .get(at)
                    .ok_or_else(|| core_to_py(CoreError::BadState("job index")))?;
                let previous = previous.map_or_else(|| Ok(py.None().into_bound(py)), member)?;
                new_named_tuple(
                    transition,
                    [id.clone().into_any(), previous, member(status)?],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tracker whose state a poller's thread took in another process (the parent of a fork).
    fn shared_in_a_parent() -> JobTracker {
        let tracker = JobTracker::new();
        tracker
            .shared_in
            .store(std::process::id().wrapping_add(1), Ordering::Release);
        tracker
    }

    #[test]
    fn a_forked_child_gets_an_error_for_a_lock_held_across_the_fork() {
        let tracker = shared_in_a_parent();
        let state = Arc::clone(&tracker.state);
        let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let _guard = state.lock();
            let _ = held_tx.send(());
            let _ = release_rx.recv();
        });
        held_rx.recv().unwrap();
        let started = Instant::now();
        let error = tracker.lock().err().unwrap();
        assert!(started.elapsed() >= LOCK_AFTER_FORK);
        assert!(started.elapsed() < LOCK_AFTER_FORK * 10);
        Python::initialize();
        let message = Python::attach(|_| error.to_string());
        assert!(message.contains("did not survive fork()"), "{message}");
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        // Once free, the child locks it as usual.
        assert!(tracker.lock().is_ok());
    }

    #[test]
    fn the_process_that_shared_the_state_waits_for_the_lock() {
        let tracker = JobTracker::new();
        let _shared = tracker.shared();
        let state = Arc::clone(&tracker.state);
        let guard = state.lock().unwrap();
        let waiter = std::thread::spawn(move || tracker.lock().is_ok());
        std::thread::sleep(LOCK_AFTER_FORK * 2);
        drop(guard);
        assert!(waiter.join().unwrap());
    }
}
