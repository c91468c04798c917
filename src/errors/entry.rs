//! Error entries: a payload the pure path rejected, kept in a batch or a tracker with what it
//! raised, and raised again as that same Python exception when the entry is read.

use std::collections::HashMap;
use std::sync::Arc;

use pyo3::exceptions::{
    PyKeyError, PyRuntimeError, PyTypeError, PyUnicodeDecodeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::model::Model;
use crate::payloads::element_object;

/// The exception type name and message of an error entry, shared by the entries that have the
/// same ones: a malformed log repeats a few messages many times.
pub struct ErrorKind {
    pub type_name: String,
    pub message: String,
}

/// How an error entry's exception is raised again.
pub enum Raise {
    /// By running the pure path on the payload again (as `str` if `text`, else as `bytes`):
    /// the payload's bytes cost far less than the exception object with its attributes and
    /// traceback, and the pure path is deterministic for these.
    Replay { payload: Box<[u8]>, text: bool },
    /// The exception itself: for payloads the batch cannot keep as bytes, and for exceptions
    /// that may depend on the interpreter's state (recursion depth, memory, the int digit
    /// limit), which a replay might not reproduce.
    Stored(Py<PyAny>),
}

/// A payload the pure path rejected: its position, what it raised, and how to raise it again.
pub struct ErrorEntry {
    pub index: usize,
    pub kind: Arc<ErrorKind>,
    pub raise: Raise,
}

impl ErrorEntry {
    pub fn type_name(&self) -> &str {
        &self.kind.type_name
    }

    pub fn message(&self) -> &str {
        &self.kind.message
    }

    pub fn clone_ref(&self, py: Python<'_>, index: usize) -> ErrorEntry {
        let raise = match &self.raise {
            Raise::Replay { payload, text } => Raise::Replay {
                payload: payload.clone(),
                text: *text,
            },
            Raise::Stored(exception) => Raise::Stored(exception.clone_ref(py)),
        };
        ErrorEntry {
            index,
            kind: Arc::clone(&self.kind),
            raise,
        }
    }

    /// Heap bytes beyond the entry itself (the shared kinds are not counted).
    pub fn heap_bytes(&self) -> usize {
        match &self.raise {
            Raise::Replay { payload, .. } => payload.len(),
            Raise::Stored(_) => 0,
        }
    }

    /// The exception, ready to raise (without the traceback of an earlier raise).
    pub fn to_err(&self, py: Python<'_>) -> PyErr {
        let exception = match &self.raise {
            Raise::Stored(exception) => exception.bind(py).clone(),
            Raise::Replay { payload, text } => match self.replay(py, payload, *text) {
                Ok(exception) => exception,
                Err(err) => return err,
            },
        };
        // Best effort: an exception that refuses a new traceback is raised with its old one.
        let _ = exception.setattr("__traceback__", py.None());
        PyErr::from_value(exception)
    }

    pub fn replay<'py>(
        &self,
        py: Python<'py>,
        payload: &[u8],
        text: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let model = Model::get(py)?;
        match model
            .pure_from_json
            .bind(py)
            .call1((element_object(py, payload, text)?,))
        {
            Err(err) => Ok(err.into_value(py).into_bound(py).into_any()),
            // Only exceptions the pure path raises for these bytes whatever the state are
            // replayed, so this means the batch is inconsistent.
            Ok(_) => Err(PyRuntimeError::new_err(format!(
                "error entry {} ({}: {}) no longer raises",
                self.index, self.kind.type_name, self.kind.message
            ))),
        }
    }
}

/// The exception types the pure path raises for a payload's bytes alone, independent of the
/// interpreter's state: their entries keep the payload instead of the exception.
pub struct Replayable<'py> {
    types: Vec<Bound<'py, PyAny>>,
    value_error: Bound<'py, PyAny>,
}

impl<'py> Replayable<'py> {
    pub fn new(py: Python<'py>) -> PyResult<Replayable<'py>> {
        let types = vec![
            py.import("json")?.getattr("JSONDecodeError")?,
            py.import("pydantic_core")?.getattr("ValidationError")?,
            py.get_type::<PyKeyError>().into_any(),
            py.get_type::<PyTypeError>().into_any(),
            py.get_type::<PyUnicodeDecodeError>().into_any(),
        ];
        Ok(Replayable {
            types,
            value_error: py.get_type::<PyValueError>().into_any(),
        })
    }

    pub fn contains(&self, exception_type: &Bound<'py, PyType>, message: &str) -> bool {
        if self.types.iter().any(|t| t.is(exception_type)) {
            return true;
        }
        // ValueError is also the int digit limit's error, which depends on a setting: only
        // the unknown status is replayed.
        self.value_error.is(exception_type) && message.ends_with("is not a valid Status")
    }
}

/// One shared [`ErrorKind`] for each distinct type name and message.
#[derive(Default)]
pub struct ErrorKinds {
    seen: HashMap<(String, String), Arc<ErrorKind>>,
}

impl ErrorKinds {
    /// The shared kind for this type name and message, made on first sight.
    pub fn intern(&mut self, type_name: String, message: String) -> Arc<ErrorKind> {
        Arc::clone(self.seen.entry((type_name, message)).or_insert_with_key(
            |(type_name, message)| {
                Arc::new(ErrorKind {
                    type_name: type_name.clone(),
                    message: message.clone(),
                })
            },
        ))
    }
}
