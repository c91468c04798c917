//! What a Python thread sees of the poller: transitions (iteration, and `async for` through
//! `_next_ready`) and `wait`. Waiting happens without the GIL, in slices, so that Ctrl-C is
//! seen; `Transition` and `RunStatus` objects are built after the engine's lock is released.

use std::sync::Arc;
use std::time::{Duration, Instant};

use iqm_runstatus_core::status::StatusCode;
use pyo3::exceptions::{PyRuntimeError, PyTimeoutError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use super::args::{deadline, job_ids};
use super::StatusPoller;
use crate::errors::poller_to_py;
use crate::instances::new_named_tuple;
use crate::model::Model;
use crate::tracker::{named_tuple, TRANSITION};

/// How long a waiting Python thread sleeps between checks for signals (Ctrl-C).
pub(super) const WAIT_SLICE: Duration = Duration::from_millis(20);

impl StatusPoller {
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
    pub(super) fn next_ready<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        self.service(py)?;
        match self.engine.take_transitions().map_err(poller_to_py)? {
            None => Ok(None),
            Some(taken) => Self::transition_list(py, taken).map(Some),
        }
    }

    /// Waits up to `slice` for a change, without the GIL.
    pub(super) fn wait_slice(&self, py: Python<'_>, slice: Duration) -> PyResult<()> {
        py.detach(|| self.engine.wait_for_transitions(slice));
        py.check_signals()
    }

    /// `wait`: blocks until the jobs are terminal or given up; the `RunStatus` of each
    /// terminal one.
    pub(super) fn wait_for<'py>(
        &self,
        py: Python<'py>,
        job_ids: Option<&Bound<'py, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let deadline = deadline(timeout)?;
        // Converted before locking: iterating the ids or `UUID.__str__` runs Python code.
        let given = match job_ids {
            Some(ids) if !ids.is_none() => Some(self::job_ids(ids)?),
            _ => None,
        };
        let wanted = self.engine.resolve(given).map_err(poller_to_py)?;
        let total = wanted.len();
        // Scanned only once the jobs can all be done, not on every answer (see `Waiting`).
        let mut waiting = self.engine.waiting(wanted);
        loop {
            self.service(py)?;
            let expired = deadline.is_some_and(|deadline| Instant::now() >= deadline);
            // A timeout scans afresh: its message counts the jobs exactly.
            let scanned = self
                .engine
                .wait_progress(&mut waiting, expired)
                .map_err(poller_to_py)?;
            if let Some(progress) = scanned {
                let pending = progress.pending;
                if pending == 0 {
                    let result = PyDict::new(py);
                    let statuses = self.tracker.get().statuses(py, &progress.terminal)?;
                    for (id, status) in progress.terminal.iter().zip(statuses) {
                        result.set_item(&**id, status)?;
                    }
                    return Ok(result);
                }
                if progress.closed {
                    return Err(PyRuntimeError::new_err(format!(
                        "the poller is closed with {pending} of {total} jobs still pending"
                    )));
                }
                if expired {
                    let rejected = match progress.rejected {
                        0 => String::new(),
                        rejected => format!(
                            "; the latest body of {rejected} of them was rejected (see errors)"
                        ),
                    };
                    return Err(PyTimeoutError::new_err(format!(
                        "{pending} of {total} jobs still pending after {} s{rejected}",
                        timeout.unwrap_or(0.0)
                    )));
                }
            }
            let slice = match deadline {
                Some(deadline) => {
                    WAIT_SLICE.min(deadline.saturating_duration_since(Instant::now()))
                }
                None => WAIT_SLICE,
            };
            py.detach(|| self.engine.wait_for_change(&waiting, slice));
            py.check_signals()?;
        }
    }
}
