//! The payloads of a batch call: collected from the caller's iterable (mutable buffers copied,
//! sizes from Python taken as hints), parsed without the GIL, and the payloads the fast path
//! did not accept decided by the pure path.

use std::borrow::Cow;

use pyo3::exceptions::{PyException, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};

use crate::convert::entry_from_run_status;
use crate::errors::{core_to_py, ErrorEntry, ErrorKinds, Raise, Replayable};
use crate::input::{with_json_bytes, Accept};
use crate::instances::new_str_surrogatepass;
use crate::model::Model;
use iqm_runstatus_core::columns::Builder;
use iqm_runstatus_core::parallel::{default_threads, parse_all};
use iqm_runstatus_core::Error as CoreError;

/// Decides the payloads the fast path did not accept with the pure path: a result is stored in
/// `builder` at its position, an exception becomes an error entry (positions from `offset`).
/// `slices` are the payloads' bytes, kept by the error entries of `bytes` and `str` payloads.
fn resolve_failures<'py>(
    py: Python<'py>,
    model: &Model,
    builder: &mut Builder,
    failures: &[usize],
    offset: usize,
    slices: &[Option<&[u8]>],
    payload: impl Fn(usize) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Vec<ErrorEntry>> {
    let pure = model.pure_from_json.bind(py);
    // Sized for the worst case up front: a log of bad lines would otherwise peak at twice it.
    let mut errors = Vec::new();
    errors
        .try_reserve_exact(failures.len())
        .map_err(|err| core_to_py(err.into()))?;
    let mut kinds = ErrorKinds::default();
    let mut replayable = None;
    for &at in failures {
        let object = payload(at)?;
        match pure.call1((&object,)) {
            Ok(result) => {
                let entry = entry_from_run_status(model, &result)?;
                builder.set_entry(at, &entry.borrow()).map_err(core_to_py)?;
            }
            // Only ordinary exceptions describe the payload; KeyboardInterrupt and the like stop.
            Err(err) if err.is_instance_of::<PyException>(py) => {
                let exception_type = err.get_type(py);
                let type_name = exception_type.name()?.to_string_lossy().into_owned();
                let exception = err.into_value(py).into_bound(py);
                let message = exception.str()?.to_string_lossy().into_owned();
                let replayable = match &replayable {
                    Some(replayable) => replayable,
                    None => replayable.insert(Replayable::new(py)?),
                };
                let text = object.is_exact_instance_of::<PyString>();
                let bytes = slices.get(at).copied().flatten();
                let raise = match bytes {
                    Some(bytes)
                        if (text || object.is_exact_instance_of::<PyBytes>())
                            && replayable.contains(&exception_type, &message) =>
                    {
                        Raise::Replay {
                            payload: Box::from(bytes),
                            text,
                        }
                    }
                    _ => {
                        // The traceback holds the pure path's frames and their locals.
                        let _ = exception.setattr("__traceback__", py.None());
                        Raise::Stored(exception.into_any().unbind())
                    }
                };
                errors.push(ErrorEntry {
                    index: offset + at,
                    kind: kinds.intern(type_name, message),
                    raise,
                });
            }
            Err(err) => return Err(err),
        }
    }
    Ok(errors)
}

/// Parses `payloads` without the GIL, then decides the failures with the pure path, which
/// `payload(i)` gives the `i`-th payload object to.
pub fn parse_payloads<'py>(
    py: Python<'py>,
    payloads: &[Option<&[u8]>],
    threads: usize,
    offset: usize,
    payload: impl Fn(usize) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<(Builder, Vec<ErrorEntry>)> {
    let model = Model::get(py)?;
    let (mut builder, failures) = if model.is_current(py) {
        py.detach(|| parse_all(model.vocabulary, payloads, threads))
            .map_err(core_to_py)?
    } else {
        // A changed model validates its own way: every payload goes to the pure path.
        let mut builder = Builder::try_with_capacity(payloads.len()).map_err(core_to_py)?;
        payloads.iter().for_each(|_| builder.push_invalid());
        let mut failures = Vec::new();
        failures
            .try_reserve_exact(payloads.len())
            .map_err(|err| core_to_py(err.into()))?;
        failures.extend(0..payloads.len());
        (builder, failures)
    };
    let errors = resolve_failures(
        py,
        model,
        &mut builder,
        &failures,
        offset,
        payloads,
        payload,
    )?;
    Ok((builder, errors))
}

/// The most room reserved up front from a length Python reports.
const MAX_LENGTH_HINT: usize = 1 << 20;

/// Payload objects, kept alive while the parse reads their buffers without the GIL.
pub struct Payloads<'py> {
    pub objects: Vec<Bound<'py, PyAny>>,
    /// For each payload that is neither `bytes` nor `str`, in order: a copy of its bytes, or
    /// `None` when only the pure path can read it.
    copies: Vec<Option<Vec<u8>>>,
}

/// Whether the parse reads `object`'s own buffer: `bytes` and `str` are immutable, so their
/// buffers stay valid and unchanged while the object is held, with or without the GIL.
fn read_in_place(object: &Bound<'_, PyAny>) -> bool {
    object.is_exact_instance_of::<PyBytes>() || object.is_exact_instance_of::<PyString>()
}

impl<'py> Payloads<'py> {
    /// The payloads of an iterable; `TypeError` for a single payload in its place, or an item
    /// of a type no entry point reads.
    pub fn collect(iterable: &Bound<'py, PyAny>) -> PyResult<Payloads<'py>> {
        if is_payload(iterable) {
            let type_name = iterable.get_type().name()?;
            return Err(PyTypeError::new_err(format!(
                "expected an iterable of payloads, not a single {type_name} payload: \
                 wrap one payload in a list"
            )));
        }
        let mut objects = Vec::new();
        // A length from Python is a hint (a `__len__` may lie), so the room it asks for is
        // capped and taken only if the allocation succeeds; pushes grow the rest.
        let hint = iterable.len().unwrap_or(0).min(MAX_LENGTH_HINT);
        let _ = objects.try_reserve(hint);
        for (at, object) in iterable.try_iter()?.enumerate() {
            let object = object?;
            if !is_payload(&object) {
                return Err(not_a_payload(&object, Some(at)));
            }
            objects
                .try_reserve(1)
                .map_err(|err| core_to_py(err.into()))?;
            objects.push(object);
        }
        Self::from_objects(objects)
    }

    pub fn from_objects(objects: Vec<Bound<'py, PyAny>>) -> PyResult<Payloads<'py>> {
        // bytearray and memoryview can change once the GIL is released: copied now.
        let mut copies = Vec::new();
        for object in objects.iter().filter(|object| !read_in_place(object)) {
            let copy = match with_json_bytes(object, Accept::AnyBuffer, try_copy) {
                Ok(copy) => Some(copy.map_err(core_to_py)?),
                Err(_) => None,
            };
            copies
                .try_reserve(1)
                .map_err(|err| core_to_py(err.into()))?;
            copies.push(copy);
        }
        Ok(Payloads { objects, copies })
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The bytes of each payload; `None` for one only the pure path can read.
    pub fn slices(&self) -> PyResult<Vec<Option<&[u8]>>> {
        let mut copies = self.copies.iter();
        let mut slices = Vec::new();
        slices
            .try_reserve_exact(self.objects.len())
            .map_err(|err| core_to_py(err.into()))?;
        slices.extend(self.objects.iter().map(|object| {
            if let Ok(bytes) = object.cast_exact::<PyBytes>() {
                Some(bytes.as_bytes())
            } else if let Ok(text) = object.cast_exact::<PyString>() {
                // A str with lone surrogates has no UTF-8 form: the pure path reads it.
                text.to_str().ok().map(str::as_bytes)
            } else {
                copies.next().and_then(Option::as_deref)
            }
        }));
        Ok(slices)
    }

    /// Parses every payload: the columns, and the error entries.
    pub fn parse(&self, threads: usize) -> PyResult<(Builder, Vec<ErrorEntry>)> {
        let Some(first) = self.objects.first() else {
            return Ok((Builder::default(), Vec::new()));
        };
        let py = first.py();
        parse_payloads(py, &self.slices()?, threads, 0, |at| {
            self.objects
                .get(at)
                .cloned()
                .ok_or_else(|| core_to_py(CoreError::BadState("payload index")))
        })
    }
}

/// A copy of `bytes`, or [`CoreError::OutOfMemory`]: a copy sized from the input must not
/// abort the process when it does not fit.
pub fn try_copy(bytes: &[u8]) -> Result<Vec<u8>, CoreError> {
    let mut copy = Vec::new();
    copy.try_reserve_exact(bytes.len())?;
    copy.extend_from_slice(bytes);
    Ok(copy)
}

/// The `threads` keyword: `None` for every core, else an int of at least one (a count past
/// any machine's means every core).
pub fn thread_count(threads: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    let Some(threads) = threads.filter(|threads| !threads.is_none()) else {
        return Ok(default_threads());
    };
    let below_one = || PyValueError::new_err(format!("threads must be at least 1, not {threads}"));
    match threads.extract::<usize>() {
        Ok(0) => Err(below_one()),
        Ok(count) => Ok(count),
        Err(err) if err.is_instance_of::<PyOverflowError>(threads.py()) => {
            if threads.lt(1)? {
                Err(below_one())
            } else {
                Ok(default_threads())
            }
        }
        Err(err) => Err(err),
    }
}

/// Whether `object` is one JSON document, of a type the batch tools read.
pub fn is_payload(object: &Bound<'_, PyAny>) -> bool {
    object.is_instance_of::<PyBytes>()
        || object.is_instance_of::<PyString>()
        || object.is_instance_of::<PyByteArray>()
        || object.is_instance_of::<PyMemoryView>()
}

/// The `TypeError` for a payload of a type no entry point reads: a programming error, not a
/// bad payload, so it is raised rather than recorded.
pub fn not_a_payload(object: &Bound<'_, PyAny>, position: Option<usize>) -> PyErr {
    let type_name = object
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |name| name.to_string());
    let which = position.map_or_else(|| "the payload".to_owned(), |at| format!("payload {at}"));
    PyTypeError::new_err(format!(
        "{which} is of type {type_name}, not bytes, bytearray, memoryview or str"
    ))
}

/// The UTF-8 bytes of a `str`, borrowed; a `str` holding lone surrogates has none, so it is
/// encoded with `surrogatepass`, which [`element_object`] undoes.
pub fn str_bytes<'a>(text: &'a Bound<'_, PyString>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(utf8) = text.to_str() {
        return Ok(Cow::Borrowed(utf8.as_bytes()));
    }
    let encoded = text.call_method1("encode", ("utf-8", "surrogatepass"))?;
    Ok(Cow::Owned(
        encoded.cast_into::<PyBytes>()?.as_bytes().to_vec(),
    ))
}

/// A line or array element as the pure path receives it: `str` if the input was text.
pub fn element_object<'py>(
    py: Python<'py>,
    bytes: &[u8],
    text: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if text {
        new_str_surrogatepass(py, bytes)
    } else {
        Ok(PyBytes::new(py, bytes).into_any())
    }
}
