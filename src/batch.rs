//! `StatusBatch`: many statuses parsed at once into columns kept in Rust, materialised to
//! `RunStatus` objects only when asked.
//!
//! The parse runs without the GIL, on several threads for large inputs. A payload the fast
//! path does not accept is then, under the GIL, given to the pure path: its result is stored
//! like any other entry, or its exception is kept as an error entry (code 255).

use std::borrow::Cow;
use std::collections::HashMap;
use std::os::raw::c_int;
use std::sync::Arc;

use pyo3::exceptions::{
    PyException, PyIndexError, PyKeyError, PyOverflowError, PyRuntimeError, PyTypeError,
    PyUnicodeDecodeError, PyValueError,
};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::pyclass::{PyTraverseError, PyVisit};
use pyo3::types::{
    PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PyModule, PySet, PySlice, PyString,
    PyTuple, PyType,
};

use crate::columns::{Builder, Columns, Entry, OwnedEntry, Table, INVALID};
use crate::error::{Error, Field};
use crate::input::{with_json_bytes, Accept};
use crate::model::Model;
use crate::objects::{new_run_status, new_str_surrogatepass, FieldValue};
use crate::parallel::{default_threads, parse_all};
use crate::parse::Slot;
use crate::split::{foreign_encoding, ndjson_lines, split_array, whole_lines_len, SplitError, BOM};
use crate::status::StatusCode;

/// How much of an NDJSON file is read at a time.
const NDJSON_CHUNK: usize = 1 << 20;
/// The layout version of the pickled state (2: error entries keep their payload).
const STATE_VERSION: u8 = 2;

/// The exception type name and message of an error entry, shared by the entries that have the
/// same ones: a malformed log repeats a few messages many times.
pub struct ErrorKind {
    pub type_name: String,
    pub message: String,
}

/// How an error entry's exception is raised again.
enum Raise {
    /// By running the pure path on the payload again (as `str` if `text`, else as `bytes`):
    /// the payload's bytes cost far less than the exception object with its attributes and
    /// traceback (some 600 to 1900 bytes), and the pure path is deterministic for these.
    Replay { payload: Box<[u8]>, text: bool },
    /// The exception itself: for payloads the batch cannot keep as bytes, and for exceptions
    /// that may depend on the interpreter's state (recursion depth, memory, the int digit
    /// limit), which a replay might not reproduce.
    Stored(Py<PyAny>),
}

/// A payload the pure path rejected: its position, what it raised, and how to raise it again.
pub struct ErrorEntry {
    pub index: usize,
    kind: Arc<ErrorKind>,
    raise: Raise,
}

impl ErrorEntry {
    pub fn type_name(&self) -> &str {
        &self.kind.type_name
    }

    pub fn message(&self) -> &str {
        &self.kind.message
    }

    fn clone_ref(&self, py: Python<'_>, index: usize) -> ErrorEntry {
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
    fn heap_bytes(&self) -> usize {
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

    fn replay<'py>(
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
struct Replayable<'py> {
    types: Vec<Bound<'py, PyAny>>,
    value_error: Bound<'py, PyAny>,
}

impl<'py> Replayable<'py> {
    fn new(py: Python<'py>) -> PyResult<Replayable<'py>> {
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

    fn contains(&self, exception_type: &Bound<'py, PyType>, message: &str) -> bool {
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
struct Kinds {
    seen: HashMap<(String, String), Arc<ErrorKind>>,
}

impl Kinds {
    fn get(&mut self, type_name: String, message: String) -> Arc<ErrorKind> {
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

/// Pauses the cyclic garbage collector while many instances are built, and restores it.
///
/// The instances cannot form cycles, yet each 700 allocations would start a collection that
/// walks the growing list again: that tripled the cost of `to_list`. The GIL is held
/// throughout, so no other thread runs while the collector is off.
pub struct GcPause<'py> {
    gc: Option<Bound<'py, PyModule>>,
}

impl<'py> GcPause<'py> {
    pub fn new(py: Python<'py>) -> PyResult<GcPause<'py>> {
        let gc = py.import("gc")?;
        if !gc.call_method0("isenabled")?.is_truthy()? {
            return Ok(GcPause { gc: None });
        }
        gc.call_method0("disable")?;
        Ok(GcPause { gc: Some(gc) })
    }
}

impl Drop for GcPause<'_> {
    fn drop(&mut self) {
        if let Some(gc) = &self.gc {
            // Enabling cannot fail short of interpreter shutdown; nothing to do then.
            let _ = gc.call_method0("enable");
        }
    }
}

/// The `RunStatus` for one stored entry.
pub fn run_status_from_entry<'py>(
    py: Python<'py>,
    model: &Model,
    entry: &Entry<'_>,
) -> PyResult<Bound<'py, PyAny>> {
    let message: FieldValue<'py> = entry
        .message
        .try_map(|text| new_str_surrogatepass(py, text))?;
    let warnings: FieldValue<'py> = entry.warnings.try_map(|items| {
        let list = PyList::empty(py);
        for item in items {
            list.append(new_str_surrogatepass(py, item)?)?;
        }
        Ok::<_, PyErr>(list.into_any())
    })?;
    new_run_status(py, model, entry.status, message, warnings)
}

fn encode_str(text: &Bound<'_, PyAny>) -> PyResult<Box<[u8]>> {
    let encoded = text.call_method1("encode", ("utf-8", "surrogatepass"))?;
    Ok(Box::from(encoded.cast_into::<PyBytes>()?.as_bytes()))
}

/// The fields of a `RunStatus` the pure path returned, as an entry.
pub fn entry_from_run_status(model: &Model, result: &Bound<'_, PyAny>) -> PyResult<OwnedEntry> {
    let status = model
        .code_of_member(&result.getattr("status")?)
        .ok_or(Error::BadModel(
            "the pure path returned a status that is not a member",
        ))?;
    let fields_set = result.getattr("model_fields_set")?;
    let fields_set = fields_set.cast::<PySet>()?;
    let slot = |field: Field| -> PyResult<Slot<Bound<'_, PyAny>>> {
        let value = result.getattr(field.name())?;
        Ok(if !value.is_none() {
            Slot::Value(value)
        } else if fields_set.contains(field.name())? {
            Slot::Null
        } else {
            Slot::Absent
        })
    };
    let message = match slot(Field::Message)? {
        Slot::Absent => Slot::Absent,
        Slot::Null => Slot::Null,
        Slot::Value(text) => Slot::Value(encode_str(&text)?),
    };
    let warnings = match slot(Field::Warnings)? {
        Slot::Absent => Slot::Absent,
        Slot::Null => Slot::Null,
        Slot::Value(items) => Slot::Value(
            items
                .try_iter()?
                .map(|item| encode_str(&item?))
                .collect::<PyResult<Vec<_>>>()?,
        ),
    };
    Ok(OwnedEntry {
        status,
        message,
        warnings,
    })
}

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
    let mut errors = Vec::with_capacity(failures.len());
    let mut kinds = Kinds::default();
    let mut replayable = None;
    for &at in failures {
        let object = payload(at)?;
        match pure.call1((&object,)) {
            Ok(result) => {
                let entry = entry_from_run_status(model, &result)?;
                builder.set_entry(at, &entry.borrow())?;
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
                    kind: kinds.get(type_name, message),
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
        py.detach(|| parse_all(payloads, threads))?
    } else {
        // A changed model validates its own way: every payload goes to the pure path.
        let mut builder = Builder::with_capacity(payloads.len());
        payloads.iter().for_each(|_| builder.push_invalid());
        (builder, (0..payloads.len()).collect())
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

/// Whether two entries build equal `RunStatus` objects: pydantic compares the field values,
/// so an absent field equals an explicit null.
fn same_values(a: &Entry<'_>, b: &Entry<'_>) -> bool {
    a.status == b.status
        && field_value(&a.message) == field_value(&b.message)
        && field_value(&a.warnings) == field_value(&b.warnings)
}

/// [`same_values`] for an owned entry, without borrowing it whole.
fn same_values_owned(a: &OwnedEntry, b: &Entry<'_>) -> bool {
    let warnings = match (field_value(&a.warnings), field_value(&b.warnings)) {
        (Some(mine), Some(theirs)) => {
            mine.len() == theirs.len() && mine.iter().zip(theirs).all(|(x, y)| **x == **y)
        }
        (mine, theirs) => mine.is_none() && theirs.is_none(),
    };
    a.status == b.status
        && field_value(&a.message).map(|text| &**text) == field_value(&b.message).copied()
        && warnings
}

/// A field's value as the model holds it: `None` when absent or null.
fn field_value<T>(slot: &Slot<T>) -> Option<&T> {
    match slot {
        Slot::Value(value) => Some(value),
        Slot::Absent | Slot::Null => None,
    }
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
            objects.push(object);
        }
        Ok(Self::from_objects(objects))
    }

    pub fn from_objects(objects: Vec<Bound<'py, PyAny>>) -> Payloads<'py> {
        // bytearray and memoryview can change once the GIL is released: copied now.
        let copies = objects
            .iter()
            .filter(|object| !read_in_place(object))
            .map(|object| with_json_bytes(object, Accept::AnyBuffer, <[u8]>::to_vec).ok())
            .collect();
        Payloads { objects, copies }
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The bytes of each payload; `None` for one only the pure path can read.
    pub fn slices(&self) -> Vec<Option<&[u8]>> {
        let mut copies = self.copies.iter();
        self.objects
            .iter()
            .map(|object| {
                if let Ok(bytes) = object.cast_exact::<PyBytes>() {
                    Some(bytes.as_bytes())
                } else if let Ok(text) = object.cast_exact::<PyString>() {
                    // A str with lone surrogates has no UTF-8 form: the pure path reads it.
                    text.to_str().ok().map(str::as_bytes)
                } else {
                    copies.next().and_then(Option::as_deref)
                }
            })
            .collect()
    }

    /// Parses every payload: the columns, and the error entries.
    pub fn parse(&self, threads: usize) -> PyResult<(Builder, Vec<ErrorEntry>)> {
        let Some(first) = self.objects.first() else {
            return Ok((Builder::default(), Vec::new()));
        };
        let py = first.py();
        parse_payloads(py, &self.slices(), threads, 0, |at| {
            self.objects
                .get(at)
                .cloned()
                .ok_or_else(|| Error::BadState("payload index").into())
        })
    }
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

/// Appends the non-blank lines of `region` to `builder`, each line one payload.
fn add_lines(
    py: Python<'_>,
    builder: &mut Builder,
    errors: &mut Vec<ErrorEntry>,
    region: &[u8],
    text: bool,
    threads: usize,
) -> PyResult<()> {
    let lines: Vec<Option<&[u8]>> = ndjson_lines(region).into_iter().map(Some).collect();
    let (part, part_errors) = parse_payloads(py, &lines, threads, builder.len(), |at| {
        let line = lines.get(at).copied().flatten().unwrap_or_default();
        element_object(py, line, text)
    })?;
    builder.append(part)?;
    if errors.is_empty() {
        // Moved, not copied: a whole input read at once is one part.
        *errors = part_errors;
    } else {
        errors.extend(part_errors);
    }
    Ok(())
}

/// The UTF-8 bytes of a `str`, borrowed; a `str` holding lone surrogates has none, so it is
/// encoded with `surrogatepass`, which [`element_object`] undoes.
fn str_bytes<'a>(text: &'a Bound<'_, PyString>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(utf8) = text.to_str() {
        return Ok(Cow::Borrowed(utf8.as_bytes()));
    }
    let encoded = text.call_method1("encode", ("utf-8", "surrogatepass"))?;
    Ok(Cow::Owned(
        encoded.cast_into::<PyBytes>()?.as_bytes().to_vec(),
    ))
}

/// The bytes of a whole input, and whether it is text: `bytes` and `str` borrowed (immutable,
/// so safe to read without the GIL), any other buffer copied; `None` for other objects.
fn source_bytes<'a>(source: &'a Bound<'_, PyAny>) -> PyResult<Option<(Cow<'a, [u8]>, bool)>> {
    if let Ok(bytes) = source.cast_exact::<PyBytes>() {
        return Ok(Some((Cow::Borrowed(bytes.as_bytes()), false)));
    }
    if let Ok(text) = source.cast::<PyString>() {
        return Ok(Some((str_bytes(text)?, true)));
    }
    let subclass = (source.is_instance_of::<PyBytes>() || source.is_instance_of::<PyByteArray>())
        && !source.is_exact_instance_of::<PyByteArray>();
    if subclass {
        // json.loads reads a bytes or bytearray subclass through its own decode().
        let py = source.py();
        let encoding = py
            .import("json")?
            .call_method1("detect_encoding", (source,))?;
        let text = source.call_method1("decode", (encoding, "surrogatepass"))?;
        let text = text.cast_into::<PyString>()?;
        return Ok(Some((Cow::Owned(str_bytes(&text)?.into_owned()), true)));
    }
    if let Ok(bytes) = with_json_bytes(source, Accept::AnyBuffer, <[u8]>::to_vec) {
        return Ok(Some((Cow::Owned(bytes), false)));
    }
    // A non-contiguous view: read as `from_json` reads one, through `tobytes()`.
    if let Ok(view) = source.cast::<PyMemoryView>() {
        let bytes = view.call_method0("tobytes")?;
        return Ok(Some((
            Cow::Owned(bytes.cast_into::<PyBytes>()?.as_bytes().to_vec()),
            false,
        )));
    }
    Ok(None)
}

/// A whole JSON array as the splitter reads it: UTF-8 (lone surrogates as `surrogatepass`
/// writes them), elements handed to the pure path as `str` if `text`, and whether a leading
/// byte order mark is skipped (for `bytes`, as `json.loads` does).
struct ArrayDocument<'a> {
    bytes: Cow<'a, [u8]>,
    text: bool,
    skip_bom: bool,
}

impl<'a> ArrayDocument<'a> {
    fn read(py: Python<'_>, raw: &'a Bound<'_, PyAny>) -> PyResult<Option<ArrayDocument<'a>>> {
        let Some((bytes, text)) = source_bytes(raw)? else {
            return Ok(None);
        };
        if text {
            return Ok(Some(ArrayDocument {
                bytes,
                text,
                skip_bom: false,
            }));
        }
        // UTF-16 and UTF-32 are decoded as json.loads decodes them (its error if they are
        // malformed), then read as text.
        if let Some(encoding) = foreign_encoding(&bytes) {
            let decoded =
                PyBytes::new(py, &bytes).call_method1("decode", (encoding, "surrogatepass"))?;
            let decoded = decoded.cast_into::<PyString>()?;
            return Ok(Some(ArrayDocument {
                bytes: Cow::Owned(str_bytes(&decoded)?.into_owned()),
                text: true,
                skip_bom: false,
            }));
        }
        Ok(Some(ArrayDocument {
            skip_bom: bytes.starts_with(BOM),
            bytes,
            text,
        }))
    }
}

/// The exception `json.loads` raises for a document the splitter refused (or for an object it
/// does not read): the stdlib's own type, message and position. Called only on failure, so
/// the cost of building the document's Python objects is paid only then.
fn json_loads_error(py: Python<'_>, raw: &Bound<'_, PyAny>) -> PyErr {
    let attempt = || -> PyResult<PyErr> {
        // json.loads takes str, bytes and bytearray; a memoryview is read as bytes.
        let raw = if raw.cast::<PyMemoryView>().is_ok() {
            raw.call_method0("tobytes")?
        } else {
            raw.clone()
        };
        py.import("json")?.call_method1("loads", (raw,))?;
        Ok(PyRuntimeError::new_err(
            "the array splitter refused a document json.loads reads",
        ))
    };
    attempt().unwrap_or_else(|err| err)
}

/// A line or array element as the pure path receives it: `str` if the input was text.
fn element_object<'py>(py: Python<'py>, bytes: &[u8], text: bool) -> PyResult<Bound<'py, PyAny>> {
    if text {
        new_str_surrogatepass(py, bytes)
    } else {
        Ok(PyBytes::new(py, bytes).into_any())
    }
}

/// Many job statuses, parsed at once and kept in compact columns in Rust.
///
/// ``batch[i]`` builds the ``RunStatus`` equal to ``RunStatus.from_json(payloads[i])``, or
/// raises the exception that call raises. ``codes`` gives one byte per entry: 0 to 4 for the
/// ``Status`` members in enum order (pending compilation, pending execution, ready, failed,
/// aborted), 255 for an error entry.
#[pyclass(frozen, sequence, module = "iqm_runstatus._core")]
pub struct StatusBatch {
    columns: Columns,
    /// Sorted by index; one for each entry of code 255.
    errors: Vec<ErrorEntry>,
}

impl StatusBatch {
    fn new(builder: Builder, mut errors: Vec<ErrorEntry>) -> StatusBatch {
        // Indices are distinct, so an unstable sort is exact, and it needs no buffer.
        errors.sort_unstable_by_key(|error| error.index);
        StatusBatch {
            columns: builder.finish(),
            errors,
        }
    }

    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    /// The positions in `start..stop` of the entries equal to `value`, as `==` on the
    /// `RunStatus` they build finds them. Only an exact `RunStatus` can be equal.
    fn positions_of<'a>(
        &'a self,
        value: &Bound<'_, PyAny>,
        start: usize,
        stop: usize,
    ) -> PyResult<impl Iterator<Item = usize> + 'a> {
        let py = value.py();
        let model = Model::get(py)?;
        let wanted = if value.get_type().is(model.run_status.bind(py)) {
            entry_from_run_status(model, value).ok()
        } else {
            None
        };
        let columns = &self.columns;
        Ok(
            (start..stop.max(start)).filter(move |&at| match (&wanted, columns.entry(at)) {
                (Some(wanted), Some(entry)) => same_values_owned(wanted, &entry),
                _ => false,
            }),
        )
    }

    pub fn error_at(&self, index: usize) -> Option<&ErrorEntry> {
        self.errors
            .binary_search_by_key(&index, |error| error.index)
            .ok()
            .and_then(|at| self.errors.get(at))
    }

    /// The `RunStatus` of entry `index`, or the exception of its payload.
    pub fn build(&self, py: Python<'_>, model: &Model, index: usize) -> PyResult<Py<PyAny>> {
        if let Some(entry) = self.columns.entry(index) {
            return Ok(run_status_from_entry(py, model, &entry)?.unbind());
        }
        match self.error_at(index) {
            Some(error) => Err(error.to_err(py)),
            None => Err(PyIndexError::new_err("StatusBatch index out of range")),
        }
    }

    pub fn from_payload_objects(payloads: &Payloads<'_>, threads: usize) -> PyResult<StatusBatch> {
        let (builder, errors) = payloads.parse(threads)?;
        Ok(StatusBatch::new(builder, errors))
    }

    /// The columns of `entries`, for pickling a tracker.
    pub fn from_entries(entries: &[&OwnedEntry]) -> PyResult<StatusBatch> {
        let mut builder = Builder::with_capacity(entries.len());
        for entry in entries {
            builder.push_entry(&entry.borrow())?;
        }
        Ok(StatusBatch::new(builder, Vec::new()))
    }

    pub fn codes_of(py: Python<'_>, statuses: &Bound<'_, PyTuple>) -> PyResult<[bool; 5]> {
        let model = Model::get(py)?;
        let mut wanted = [statuses.is_empty(); 5];
        for status in statuses {
            // Status(value) accepts a member or its value, and raises ValueError otherwise.
            let member = model.status_enum.bind(py).call1((status,))?;
            let code = model
                .code_of_member(&member)
                .ok_or(Error::BadModel("Status returned a non-member"))?;
            if let Some(flag) = wanted.get_mut(code as usize) {
                *flag = true;
            }
        }
        Ok(wanted)
    }

    fn ndjson_from_reader(
        py: Python<'_>,
        file: &Bound<'_, PyAny>,
        threads: usize,
    ) -> PyResult<StatusBatch> {
        let read = file.getattr("read")?;
        let mut builder = Builder::default();
        let mut errors = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let chunk = read.call1((NDJSON_CHUNK,))?;
            let chunk = chunk.cast::<PyBytes>().map_err(|_| {
                PyTypeError::new_err("from_ndjson needs a binary file (opened with 'rb')")
            })?;
            let chunk = chunk.as_bytes();
            if chunk.is_empty() {
                break;
            }
            pending.extend_from_slice(chunk);
            // Only whole lines are parsed; the tail waits for the next chunk.
            if let Some(len) = whole_lines_len(&pending) {
                let whole = pending.get(..len).unwrap_or_default();
                add_lines(py, &mut builder, &mut errors, whole, false, threads)?;
                pending.drain(..len);
            }
        }
        add_lines(py, &mut builder, &mut errors, &pending, false, threads)?;
        Ok(StatusBatch::new(builder, errors))
    }
}

#[pymethods]
impl StatusBatch {
    /// Parses each payload (``bytes``, ``bytearray``, ``memoryview`` or ``str``) of an iterable.
    #[staticmethod]
    #[pyo3(signature = (payloads, *, threads = None))]
    fn from_payloads(
        payloads: &Bound<'_, PyAny>,
        threads: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let threads = thread_count(threads)?;
        StatusBatch::from_payload_objects(&Payloads::collect(payloads)?, threads)
    }

    /// Parses one JSON array of status objects; each element is parsed as one payload.
    ///
    /// Entry ``i`` equals ``RunStatus.from_json`` of the text of element ``i`` (its value, or
    /// an error entry with its exception), so ``NaN``, deep nesting, long integers or a lone
    /// surrogate in one element affect that entry only. The array is split in Rust in linear
    /// time and memory at any depth; the document itself must be JSON as ``json.loads``
    /// reads it: otherwise the call raises what ``json.loads`` raises for it (normally
    /// ``json.JSONDecodeError``, ``UnicodeDecodeError`` for bytes that are not UTF-8), and
    /// ``TypeError`` if its top-level value is not an array. ``bytes`` are read as
    /// ``json.loads`` reads them (a UTF-8 byte order mark skipped, UTF-16 and UTF-32
    /// detected), a ``memoryview`` as ``bytes``.
    #[staticmethod]
    #[pyo3(signature = (raw, *, threads = None))]
    fn from_json_array(
        py: Python<'_>,
        raw: &Bound<'_, PyAny>,
        threads: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let threads = thread_count(threads)?;
        let Some(document) = ArrayDocument::read(py, raw)? else {
            return Err(json_loads_error(py, raw));
        };
        let elements = match split_array(&document.bytes, document.skip_bom) {
            Ok(elements) => elements,
            Err(SplitError::NotAnArray(type_name)) => {
                return Err(PyTypeError::new_err(format!(
                    "a JSON array of job statuses is expected at the top level, not {type_name}"
                )))
            }
            Err(SplitError::Invalid) => return Err(json_loads_error(py, raw)),
        };
        let slices: Vec<Option<&[u8]>> = elements.into_iter().map(Some).collect();
        let (builder, errors) = parse_payloads(py, &slices, threads, 0, |at| {
            let element = slices.get(at).copied().flatten().unwrap_or_default();
            element_object(py, element, document.text)
        })?;
        Ok(StatusBatch::new(builder, errors))
    }

    /// Parses NDJSON: one payload a line. ``source`` is the text itself (``bytes``,
    /// ``bytearray`` or ``memoryview``), a path (``str`` or ``os.PathLike``), or a binary file
    /// object; files are read in chunks of 1 MiB.
    ///
    /// Lines holding only JSON whitespace are skipped: entry ``i`` is the ``i``-th non-blank
    /// line, and equals ``RunStatus.from_json`` of that line.
    #[staticmethod]
    #[pyo3(signature = (source, *, threads = None))]
    fn from_ndjson(
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        threads: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let threads = thread_count(threads)?;
        // A str is a path, as `open`, `polars.read_ndjson` and `pandas.read_json` take it.
        if source.is_instance_of::<PyString>() || source.hasattr("__fspath__")? {
            let file = py
                .import("builtins")?
                .getattr("open")?
                .call1((source, "rb"))?;
            let result = StatusBatch::ndjson_from_reader(py, &file, threads);
            file.call_method0("close")?;
            return result;
        }
        if !source.hasattr("read")? {
            let Some((bytes, text)) = source_bytes(source)? else {
                return Err(PyTypeError::new_err(
                    "from_ndjson takes bytes, a str or os.PathLike path, or a binary file",
                ));
            };
            let mut builder = Builder::default();
            let mut errors = Vec::new();
            add_lines(py, &mut builder, &mut errors, &bytes, text, threads)?;
            return Ok(StatusBatch::new(builder, errors));
        }
        StatusBatch::ndjson_from_reader(py, source, threads)
    }

    fn __len__(&self) -> usize {
        self.columns.len()
    }

    /// The batch's memory, for `sys.getsizeof`: the columns and tables in Rust, and the error
    /// entries with their payloads (not the few exception objects some keep, nor the shared
    /// type names and messages).
    fn __sizeof__(&self) -> usize {
        let (entries, tables) = self.columns.heap_bytes();
        std::mem::size_of::<Self>()
            + entries
            + tables
            + self.errors.capacity() * std::mem::size_of::<ErrorEntry>()
            + self
                .errors
                .iter()
                .map(ErrorEntry::heap_bytes)
                .sum::<usize>()
    }

    fn __getitem__(slf: &Bound<'_, Self>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let batch = slf.get();
        let len = batch.columns.len();
        if let Ok(slice) = key.cast::<PySlice>() {
            let isize_len = isize::try_from(len).map_err(|_| Error::TooLarge)?;
            let range = slice.indices(isize_len)?;
            let indices: Vec<usize> = (0..range.slicelength)
                .filter_map(|k| usize::try_from(range.start + k as isize * range.step).ok())
                .collect();
            let errors = indices
                .iter()
                .enumerate()
                .filter_map(|(k, &i)| batch.error_at(i).map(|error| error.clone_ref(py, k)))
                .collect();
            let sliced = StatusBatch {
                columns: batch.columns.select(&indices),
                errors,
            };
            return Ok(Bound::new(py, sliced)?.into_any().unbind());
        }
        let index: isize = key.extract()?;
        let resolved = if index < 0 {
            len.checked_sub(index.unsigned_abs())
        } else {
            usize::try_from(index).ok().filter(|&i| i < len)
        };
        let index =
            resolved.ok_or_else(|| PyIndexError::new_err("StatusBatch index out of range"))?;
        batch.build(py, Model::get(py)?, index)
    }

    fn __iter__(slf: Bound<'_, Self>) -> StatusBatchIter {
        let end = slf.get().columns.len();
        StatusBatchIter {
            batch: slf.unbind(),
            next: 0,
            end,
            backwards: false,
        }
    }

    fn __reversed__(slf: Bound<'_, Self>) -> StatusBatchIter {
        let end = slf.get().columns.len();
        StatusBatchIter {
            batch: slf.unbind(),
            next: 0,
            end,
            backwards: true,
        }
    }

    /// Whether an entry equals ``value``; error entries are skipped.
    fn __contains__(&self, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self
            .positions_of(value, 0, self.columns.len())?
            .next()
            .is_some())
    }

    /// The number of entries equal to ``value``.
    #[pyo3(signature = (value, /))]
    fn count(&self, value: &Bound<'_, PyAny>) -> PyResult<usize> {
        Ok(self.positions_of(value, 0, self.columns.len())?.count())
    }

    /// The position of the first entry equal to ``value`` in ``[start:stop]``, as
    /// ``list.index``; ``ValueError`` if there is none.
    #[pyo3(signature = (value, start = 0, stop = None, /))]
    fn index(
        &self,
        value: &Bound<'_, PyAny>,
        start: isize,
        stop: Option<isize>,
    ) -> PyResult<usize> {
        let len = self.columns.len();
        let clamp = |at: isize| -> usize {
            let from_end = at.unsigned_abs();
            if at < 0 {
                len.saturating_sub(from_end)
            } else {
                from_end.min(len)
            }
        };
        let (start, stop) = (clamp(start), stop.map_or(len, clamp));
        self.positions_of(value, start, stop)?
            .next()
            .ok_or_else(|| PyValueError::new_err("value is not in the StatusBatch"))
    }

    /// Batches are equal when their entries are: equal values, or error entries with the
    /// same exception type and message.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        let Ok(other) = other.cast::<StatusBatch>() else {
            return false;
        };
        let other = other.get();
        let len = self.columns.len();
        len == other.columns.len()
            && (0..len).all(
                |at| match (self.columns.entry(at), other.columns.entry(at)) {
                    (Some(mine), Some(theirs)) => same_values(&mine, &theirs),
                    (None, None) => match (self.error_at(at), other.error_at(at)) {
                        (Some(mine), Some(theirs)) => {
                            mine.type_name() == theirs.type_name()
                                && mine.message() == theirs.message()
                        }
                        _ => false,
                    },
                    _ => false,
                },
            )
    }

    fn __repr__(&self) -> String {
        format!(
            "StatusBatch(len={}, errors={})",
            self.columns.len(),
            self.errors.len()
        )
    }

    /// Every entry as a ``RunStatus``; raises the exception of the first error entry, if any.
    fn to_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let model = Model::get(py)?;
        if let Some(error) = self.errors.first() {
            return Err(error.to_err(py));
        }
        let _paused = GcPause::new(py)?;
        let items = (0..self.columns.len())
            .map(|i| self.build(py, model, i))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The number of entries in each status: every ``Status`` member, in enum order.
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        Model::get(py)?.status_counts(py, self.columns.codes().iter().copied())
    }

    /// The positions, ascending, of the entries in any of ``statuses`` (every valid entry if
    /// none is given). A status is a ``Status`` member or its value.
    #[pyo3(signature = (*statuses))]
    fn indices(&self, py: Python<'_>, statuses: &Bound<'_, PyTuple>) -> PyResult<Vec<usize>> {
        let wanted = StatusBatch::codes_of(py, statuses)?;
        Ok(self
            .columns
            .codes()
            .iter()
            .enumerate()
            .filter(|&(_, &code)| wanted.get(usize::from(code)).copied().unwrap_or(false))
            .map(|(i, _)| i)
            .collect())
    }

    /// The ``Status`` of each entry; ``None`` for an error entry.
    fn statuses<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let model = Model::get(py)?;
        let items = self.columns.codes().iter().map(|&code| {
            StatusCode::from_code(code).map_or_else(|| py.None(), |s| model.member(s).clone_ref(py))
        });
        PyList::new(py, items)
    }

    /// One ``uint8`` per entry, read-only and shared with the batch (no copy): 0 to 4 are the
    /// ``Status`` members in enum order, 255 an error entry.
    #[getter]
    fn codes<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pyo3::types::PyMemoryView::from(slf.as_any())?.into_any())
    }

    /// ``(index, exception type name, message)`` for each error entry, by index.
    #[getter]
    fn errors(&self) -> Vec<(usize, String, String)> {
        self.errors
            .iter()
            .map(|e| (e.index, e.type_name().to_owned(), e.message().to_owned()))
            .collect()
    }

    /// Exposes `codes` through the buffer protocol: the column is never resized or moved while
    /// the batch lives, and the view keeps the batch alive.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let codes = slf.get().columns.codes();
        let len = ffi::Py_ssize_t::try_from(codes.len()).map_err(|_| Error::TooLarge)?;
        // SAFETY: `view` is the caller's buffer struct; PyBuffer_FillInfo takes a new reference
        // to the batch and fails (with an exception set) if a writable buffer is requested.
        let failed = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                codes.as_ptr().cast_mut().cast(),
                len,
                1,
                flags,
            )
        };
        if failed != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}

    /// Shows the collector the stored exceptions (see `Raise::Stored`). Once raised, an
    /// exception's traceback refers to the frames it passed through, and one of them usually
    /// holds this batch: a cycle that only the collector can free, and only if it sees the
    /// batch's references. (The exception clears its traceback when the collector breaks the
    /// cycle; the batch itself never changes, so it needs no `__clear__`.)
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for error in &self.errors {
            if let Raise::Stored(exception) = &error.raise {
                visit.call(exception)?;
            }
        }
        Ok(())
    }

    /// Pickles the columns as a few byte strings.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let batch = slf.get();
        let parts = batch.columns.to_parts();
        // One str object for each shared kind, so the pickle memoizes repeated messages.
        let mut kinds: HashMap<*const ErrorKind, (Bound<'py, PyString>, Bound<'py, PyString>)> =
            HashMap::new();
        let errors = batch
            .errors
            .iter()
            .map(|e| {
                let (type_name, message) = kinds
                    .entry(Arc::as_ptr(&e.kind))
                    .or_insert_with(|| {
                        (
                            PyString::new(py, e.type_name()),
                            PyString::new(py, e.message()),
                        )
                    })
                    .clone();
                // The exception, or the payload it is raised again from: bytes, or str.
                let raise = match &e.raise {
                    Raise::Stored(exception) => exception.bind(py).clone(),
                    Raise::Replay { payload, text } => element_object(py, payload, *text)?,
                };
                (e.index, type_name, message, raise).into_pyobject(py)
            })
            .collect::<PyResult<Vec<_>>>()?;
        let state = (
            STATE_VERSION,
            PyBytes::new(py, parts.codes),
            PyBytes::new(py, parts.presence),
            PyBytes::new(py, &parts.message),
            PyBytes::new(py, &parts.warnings),
            PyBytes::new(py, parts.strings.0),
            PyBytes::new(py, &parts.strings.1),
            PyBytes::new(py, parts.lists.0),
            PyBytes::new(py, &parts.lists.1),
            PyList::new(py, errors)?,
        );
        let rebuild = slf.get_type().getattr("_from_state")?;
        (rebuild, (state,)).into_pyobject(py)
    }

    /// Rebuilds a batch from the state `__reduce__` gives, checked.
    #[staticmethod]
    #[allow(clippy::type_complexity)]
    fn _from_state(
        state: (
            u8,
            Bound<'_, PyBytes>,
            Bound<'_, PyBytes>,
            Bound<'_, PyBytes>,
            Bound<'_, PyBytes>,
            Bound<'_, PyBytes>,
            Bound<'_, PyBytes>,
            Bound<'_, PyBytes>,
            Bound<'_, PyBytes>,
            Vec<(usize, String, String, Bound<'_, PyAny>)>,
        ),
    ) -> PyResult<Self> {
        let (version, codes, presence, message, warnings, sdata, sends, ldata, lends, errors) =
            state;
        if version != STATE_VERSION {
            return Err(Error::BadState("unknown version").into());
        }
        let codes = codes.as_bytes();
        let columns = Columns::from_parts(
            codes,
            presence.as_bytes(),
            message.as_bytes(),
            warnings.as_bytes(),
            Table::from_parts(sdata.as_bytes(), sends.as_bytes())?,
            Table::from_parts(ldata.as_bytes(), lends.as_bytes())?,
        )?;
        let mut kinds = Kinds::default();
        let errors = errors
            .into_iter()
            .map(|(index, type_name, message, raise)| {
                let raise = if let Ok(payload) = raise.cast_exact::<PyBytes>() {
                    Raise::Replay {
                        payload: Box::from(payload.as_bytes()),
                        text: false,
                    }
                } else if let Ok(payload) = raise.cast_exact::<PyString>() {
                    Raise::Replay {
                        payload: Box::from(str_bytes(payload)?.as_ref()),
                        text: true,
                    }
                } else {
                    Raise::Stored(raise.unbind())
                };
                Ok(ErrorEntry {
                    index,
                    kind: kinds.get(type_name, message),
                    raise,
                })
            })
            .collect::<PyResult<Vec<ErrorEntry>>>()?;
        let invalid = codes.iter().filter(|&&code| code == INVALID).count();
        let consistent = errors.len() == invalid
            && errors
                .windows(2)
                .all(|w| matches!(w, [a, b] if a.index < b.index))
            && errors.iter().all(|e| codes.get(e.index) == Some(&INVALID));
        if !consistent {
            return Err(Error::BadState("errors do not match the invalid entries").into());
        }
        Ok(StatusBatch { columns, errors })
    }
}

/// Iterates over a `StatusBatch`, building each entry as it is reached.
#[pyclass(module = "iqm_runstatus._core")]
pub struct StatusBatchIter {
    batch: Py<StatusBatch>,
    /// Entries still to give: those before `end`, from `next` on; the front first, or the
    /// back first for `reversed()`.
    next: usize,
    end: usize,
    backwards: bool,
}

#[pymethods]
impl StatusBatchIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// An iterator can sit in the same cycles as its batch (see `StatusBatch::__traverse__`).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.batch)
    }

    fn __next__(mut slf: PyRefMut<'_, Self>) -> PyResult<Option<Py<PyAny>>> {
        let py = slf.py();
        // A slice or a pickle never changes a batch, but its length bounds the walk anyway.
        let end = slf.end.min(slf.batch.get().columns.len());
        if slf.next >= end {
            return Ok(None);
        }
        let index = if slf.backwards {
            slf.end = end - 1;
            end - 1
        } else {
            slf.next += 1;
            slf.next - 1
        };
        let model = Model::get(py)?;
        slf.batch.get().build(py, model, index).map(Some)
    }
}
