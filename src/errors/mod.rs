//! The errors of the bindings, and the one place where they and the core's errors become
//! Python exceptions; and the error entries of batches, which keep a Python exception to
//! raise again.

mod entry;

pub use entry::{ErrorEntry, ErrorKind, ErrorKinds, Raise, Replayable};

use std::fmt;

use iqm_runstatus_core::Error as CoreError;
use iqm_runstatus_poller::Error as PollerError;
use pyo3::exceptions::{
    PyKeyError, PyMemoryError, PyOverflowError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::{ffi, PyErr, PyResult};

/// Why the bindings did not produce a `RunStatus` or a result object.
///
/// The single-payload entry points never raise these: they hand the input to the pure-Python
/// path, whose exception is the reference's own. The variants say why, for tests and batches.
#[derive(Debug)]
pub enum Error {
    /// The core refused the document or the state.
    Core(CoreError),
    /// The input is valid but of a form only the pure path reproduces exactly (a `str`
    /// subclass, a non-`str` key, a tuple for a list, ...), so the pure path must answer.
    UsePurePath,
    /// The native functions were called before `init` registered the model classes.
    NotInitialised,
    /// `init` was given classes that do not have the shape of the model.
    BadModel(&'static str),
    /// A list being built received fewer items than it was made for.
    ShortList,
    /// The poller's engine refused or failed.
    Poller(PollerError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Core(err) => err.fmt(f),
            Error::UsePurePath => f.write_str("input of a form only the pure path handles"),
            Error::NotInitialised => f.write_str("iqm_runstatus._core.init() has not been called"),
            Error::BadModel(why) => write!(f, "not the RunStatus model: {why}"),
            Error::ShortList => f.write_str("a list received fewer items than its length"),
            Error::Poller(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<CoreError> for Error {
    fn from(err: CoreError) -> Self {
        Error::Core(err)
    }
}

impl From<PollerError> for Error {
    fn from(err: PollerError) -> Self {
        match err {
            PollerError::Tracker(err) => Error::Core(err),
            err => Error::Poller(err),
        }
    }
}

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        let message = err.to_string();
        match err {
            Error::Poller(PollerError::UnknownJob(_)) => PyKeyError::new_err(message),
            Error::Poller(PollerError::NotASegment(_)) => PyValueError::new_err(message),
            Error::Poller(PollerError::Wakeup(err)) => err.into(),
            Error::Poller(_) => PyRuntimeError::new_err(message),
            Error::NotInitialised | Error::ShortList | Error::Core(CoreError::WorkerFailed) => {
                PyRuntimeError::new_err(message)
            }
            Error::Core(CoreError::TooLarge) => PyOverflowError::new_err(message),
            Error::Core(CoreError::OutOfMemory) => PyMemoryError::new_err(message),
            Error::BadModel(_) | Error::UsePurePath | Error::Core(CoreError::NotAnObject) => {
                PyTypeError::new_err(message)
            }
            Error::Core(
                CoreError::BadState(_)
                | CoreError::BadVocabulary(_)
                | CoreError::Json(_)
                | CoreError::TooManyDigits
                | CoreError::MissingStatus
                | CoreError::UnknownStatus
                | CoreError::WrongType(_)
                | CoreError::DuplicateKey(_),
            ) => PyValueError::new_err(message),
        }
    }
}

/// Turns an error of the poller's engine into a Python exception (see `core_to_py`).
pub fn poller_to_py(err: PollerError) -> PyErr {
    Error::from(err).into()
}

/// Turns a core error into a Python exception, for the `?` of a core call in a function that
/// returns `PyResult` (the two-step conversion is not found by `?` on its own).
pub fn core_to_py(err: CoreError) -> PyErr {
    Error::Core(err).into()
}

/// A length as CPython's `Py_ssize_t`, or the `OverflowError` that says which `what` (a
/// string, a list) was too long: every object built from a Rust length goes through here.
/// Inlined, with the error apart: it sits on the path of every string a parse builds.
#[inline(always)]
pub fn py_size(len: usize, what: &'static str) -> PyResult<ffi::Py_ssize_t> {
    match ffi::Py_ssize_t::try_from(len) {
        Ok(len) => Ok(len),
        Err(_) => Err(too_long(what)),
    }
}

#[cold]
#[inline(never)]
fn too_long(what: &'static str) -> PyErr {
    PyOverflowError::new_err(format!("{what} too long"))
}
