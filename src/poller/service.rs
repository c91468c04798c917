//! The work of the poller that needs Python, done by the thread that iterates or waits: bodies
//! the fast parser was not certain about go through the pure path, and the header provider
//! (`from_client`) is asked for headers. The engine's lock is never held while Python runs.

use iqm_runstatus_poller::header::HeaderMap;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::args::{header_map, valid_for};
use super::StatusPoller;
use crate::convert::entry_from_run_status;
use crate::errors::poller_to_py;
use crate::model::Model;

impl StatusPoller {
    /// Bodies for the pure path, and header refreshes.
    pub(super) fn service(&self, py: Python<'_>) -> PyResult<()> {
        let model = Model::get(py)?;
        self.engine.set_fast_parse(model.is_current(py));
        let service = self.engine.take_service().map_err(poller_to_py)?;
        if service.refresh {
            self.refresh_headers(py)?;
        }
        if service.fallbacks.is_empty() {
            return Ok(());
        }
        let pure = model.pure_from_json.bind(py);
        for (id, fallback) in service.fallbacks {
            let outcome = match pure.call1((PyBytes::new(py, &fallback.bytes),)) {
                Ok(result) => Ok(entry_from_run_status(model, &result)?),
                Err(err) if err.is_instance_of::<PyException>(py) => {
                    let type_name = err.get_type(py).name()?.to_string_lossy().into_owned();
                    let message = err.value(py).str()?.to_string_lossy().into_owned();
                    Err((type_name, message))
                }
                Err(err) => return Err(err),
            };
            let outcome = outcome.as_ref().map(|entry| entry.borrow());
            self.engine
                .apply_fallback(&id, &fallback, outcome.map_err(Clone::clone))
                .map_err(poller_to_py)?;
        }
        self.engine.announce();
        Ok(())
    }

    /// Asks the provider for new headers; jobs refused with 401 or 403 are polled once more.
    pub(super) fn refresh_headers(&self, py: Python<'_>) -> PyResult<()> {
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
                parsed
                    .map(|(headers, seconds)| (headers, seconds.map(valid_for)))
                    .map_err(|err| err.to_string())
            }
            Some(Err(err)) if !err.is_instance_of::<PyException>(py) => {
                // Tried again at the next service, for the jobs waiting for headers.
                self.engine.refresh_interrupted();
                return Err(err);
            }
            Some(Err(err)) => Err(err.to_string()),
            None => Err("no header provider".to_owned()),
        };
        self.engine.finish_refresh(fresh).map_err(poller_to_py)?;
        Ok(())
    }
}
