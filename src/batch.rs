//! `StatusBatch`: many statuses parsed at once into columns kept in Rust, materialised to
//! `RunStatus` objects only when asked.
//!
//! The parse runs without the GIL, on several threads for large inputs. A payload the fast
//! path does not accept is then, under the GIL, given to the pure path: its result is stored
//! like any other entry, or its exception is kept as an error entry (code 255).

use std::borrow::Cow;
use std::os::raw::c_int;

use pyo3::exceptions::{PyException, PyIndexError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::pyclass::{PyTraverseError, PyVisit};
use pyo3::types::{PyBytes, PyDict, PyList, PyModule, PySet, PySlice, PyString, PyTuple};

use crate::columns::{Builder, Columns, Entry, OwnedEntry, Table, INVALID};
use crate::error::{Error, Field};
use crate::input::{with_json_bytes, Accept};
use crate::model::Model;
use crate::objects::{new_run_status, new_str_surrogatepass, FieldValue};
use crate::parallel::{default_threads, parse_all};
use crate::parse::Slot;
use crate::status::StatusCode;

/// How much of an NDJSON file is read at a time.
const NDJSON_CHUNK: usize = 1 << 20;
/// The layout version of the pickled state.
const STATE_VERSION: u8 = 1;

/// A payload the pure path rejected: its position, exception type name, message, and the
/// exception itself (raised again on access).
pub struct ErrorEntry {
    pub index: usize,
    pub type_name: String,
    pub message: String,
    pub exception: Py<PyAny>,
}

impl ErrorEntry {
    fn clone_ref(&self, py: Python<'_>, index: usize) -> ErrorEntry {
        ErrorEntry {
            index,
            type_name: self.type_name.clone(),
            message: self.message.clone(),
            exception: self.exception.clone_ref(py),
        }
    }

    /// The stored exception, ready to raise (without the traceback of an earlier raise).
    pub fn to_err(&self, py: Python<'_>) -> PyErr {
        let exception = self.exception.bind(py);
        // Best effort: an exception that refuses a new traceback is raised with its old one.
        let _ = exception.setattr("__traceback__", py.None());
        PyErr::from_value(exception.clone())
    }
}

/// Pauses the cyclic garbage collector while many instances are built, and restores it.
///
/// The instances cannot form cycles, yet each 700 allocations would start a collection that
/// walks the growing list again: that tripled the cost of `to_list`. The GIL is held
/// throughout, so no other thread runs while the collector is off.
struct GcPause<'py> {
    gc: Option<Bound<'py, PyModule>>,
}

impl<'py> GcPause<'py> {
    fn new(py: Python<'py>) -> PyResult<GcPause<'py>> {
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
fn resolve_failures<'py>(
    py: Python<'py>,
    model: &Model,
    builder: &mut Builder,
    failures: &[usize],
    offset: usize,
    payload: impl Fn(usize) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Vec<ErrorEntry>> {
    let pure = model.pure_from_json.bind(py);
    let mut errors = Vec::new();
    for &at in failures {
        match pure.call1((payload(at)?,)) {
            Ok(result) => {
                let entry = entry_from_run_status(model, &result)?;
                builder.set_entry(at, &entry.borrow())?;
            }
            // Only ordinary exceptions describe the payload; KeyboardInterrupt and the like stop.
            Err(err) if err.is_instance_of::<PyException>(py) => {
                let exception = err.value(py);
                errors.push(ErrorEntry {
                    index: offset + at,
                    type_name: err.get_type(py).name()?.to_string_lossy().into_owned(),
                    message: exception.str()?.to_string_lossy().into_owned(),
                    exception: exception.clone().into_any().unbind(),
                });
            }
            Err(err) => return Err(err),
        }
    }
    Ok(errors)
}

/// Parses `payloads` without the GIL, then decides the failures with the pure path.
pub fn parse_payloads<'py>(
    py: Python<'py>,
    payloads: &[Option<&[u8]>],
    threads: usize,
    offset: usize,
    payload: impl Fn(usize) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<(Builder, Vec<ErrorEntry>)> {
    let model = Model::get(py)?;
    let (mut builder, failures) = py.detach(|| parse_all(payloads, threads))?;
    let errors = resolve_failures(py, model, &mut builder, &failures, offset, payload)?;
    Ok((builder, errors))
}

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
    pub fn collect(iterable: &Bound<'py, PyAny>) -> PyResult<Payloads<'py>> {
        let mut objects = Vec::with_capacity(iterable.len().unwrap_or(0));
        for object in iterable.try_iter()? {
            objects.push(object?);
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

/// The `threads` keyword: `None` for every core, else at least one.
pub fn thread_count(threads: Option<usize>) -> PyResult<usize> {
    match threads {
        None => Ok(default_threads()),
        Some(0) => Err(PyValueError::new_err("threads must be at least 1")),
        Some(threads) => Ok(threads),
    }
}

/// Whether an NDJSON line holds only JSON whitespace.
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
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
    let lines: Vec<Option<&[u8]>> = region
        .split(|&b| b == b'\n')
        .filter(|line| !is_blank(line))
        .map(Some)
        .collect();
    let (part, part_errors) = parse_payloads(py, &lines, threads, builder.len(), |at| {
        let line = lines.get(at).copied().flatten().unwrap_or_default();
        element_object(py, line, text)
    })?;
    builder.append(part)?;
    errors.extend(part_errors);
    Ok(())
}

/// The bytes of a whole input, and whether it is text: `bytes` and `str` borrowed (immutable,
/// so safe to read without the GIL), any other buffer copied; `None` if it has no UTF-8 bytes.
fn source_bytes<'a>(source: &'a Bound<'_, PyAny>) -> Option<(Cow<'a, [u8]>, bool)> {
    if let Ok(bytes) = source.cast_exact::<PyBytes>() {
        return Some((Cow::Borrowed(bytes.as_bytes()), false));
    }
    if let Ok(text) = source.cast_exact::<PyString>() {
        return text
            .to_str()
            .ok()
            .map(|t| (Cow::Borrowed(t.as_bytes()), true));
    }
    with_json_bytes(source, Accept::AnyBuffer, <[u8]>::to_vec)
        .ok()
        .map(|bytes| (Cow::Owned(bytes), false))
}

/// A line or array element as the pure path receives it: `str` if the input was text.
fn element_object<'py>(py: Python<'py>, bytes: &[u8], text: bool) -> PyResult<Bound<'py, PyAny>> {
    if text {
        let text = std::str::from_utf8(bytes).map_err(|_| Error::Unusual)?;
        Ok(PyString::new(py, text).into_any())
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
        errors.sort_by_key(|error| error.index);
        StatusBatch {
            columns: builder.finish(),
            errors,
        }
    }

    pub fn columns(&self) -> &Columns {
        &self.columns
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

    pub fn from_payload_objects(
        payloads: &Payloads<'_>,
        threads: Option<usize>,
    ) -> PyResult<StatusBatch> {
        let (builder, errors) = payloads.parse(thread_count(threads)?)?;
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
            if let Some(last) = pending.iter().rposition(|&b| b == b'\n') {
                let whole = pending.get(..last).unwrap_or_default();
                add_lines(py, &mut builder, &mut errors, whole, false, threads)?;
                pending.drain(..=last);
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
    fn from_payloads(payloads: &Bound<'_, PyAny>, threads: Option<usize>) -> PyResult<Self> {
        StatusBatch::from_payload_objects(&Payloads::collect(payloads)?, threads)
    }

    /// Parses one JSON array of status objects; each element is parsed as one payload.
    ///
    /// Raises ``json.JSONDecodeError`` if ``raw`` is not JSON and ``TypeError`` if it is not an
    /// array.
    #[staticmethod]
    #[pyo3(signature = (raw, *, threads = None))]
    fn from_json_array(
        py: Python<'_>,
        raw: &Bound<'_, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Self> {
        let threads = thread_count(threads)?;
        if let Some((bytes, text)) = source_bytes(raw) {
            let elements = serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(&bytes);
            if let Ok(elements) = elements {
                let slices: Vec<Option<&[u8]>> = elements
                    .iter()
                    .map(|element| Some(element.get().as_bytes()))
                    .collect();
                let (builder, errors) = parse_payloads(py, &slices, threads, 0, |at| {
                    let element = slices.get(at).copied().flatten().unwrap_or_default();
                    element_object(py, element, text)
                })?;
                return Ok(StatusBatch::new(builder, errors));
            }
        }
        // Not an array serde_json splits (malformed, not an array, NaN, deep nesting, lone
        // surrogates, ...): json.loads decides, and each element is written back as one payload.
        let json = py.import("json")?;
        let value = json.call_method1("loads", (raw,))?;
        let list = value.cast::<PyList>().map_err(|_| {
            PyTypeError::new_err(format!(
                "a JSON array of job statuses is expected at the top level, not {}",
                value
                    .get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?;
        let dumps = json.getattr("dumps")?;
        let objects = list
            .iter()
            .map(|element| dumps.call1((element,)))
            .collect::<PyResult<Vec<_>>>()?;
        StatusBatch::from_payload_objects(&Payloads::from_objects(objects), Some(threads))
    }

    /// Parses NDJSON: one payload a line. ``source`` is ``bytes`` or ``str`` (the text itself),
    /// an ``os.PathLike`` path, or a binary file object, read in chunks of 1 MiB.
    ///
    /// Blank lines are skipped: entry ``i`` is the ``i``-th non-blank line.
    #[staticmethod]
    #[pyo3(signature = (source, *, threads = None))]
    fn from_ndjson(
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Self> {
        let threads = thread_count(threads)?;
        let mut builder = Builder::default();
        let mut errors = Vec::new();
        if let Ok(text) = source.cast_exact::<PyString>() {
            if let Ok(text) = text.to_str() {
                add_lines(
                    py,
                    &mut builder,
                    &mut errors,
                    text.as_bytes(),
                    true,
                    threads,
                )?;
                return Ok(StatusBatch::new(builder, errors));
            }
            // Lone surrogates: split in Python, each line for the pure path.
            let lines = text.call_method1("split", ("\n",))?;
            let mut objects = Vec::new();
            for line in lines.try_iter()? {
                let line = line?;
                if line.call_method1("strip", (" \t\r",))?.len()? > 0 {
                    objects.push(line);
                }
            }
            return StatusBatch::from_payload_objects(
                &Payloads::from_objects(objects),
                Some(threads),
            );
        }
        if source.hasattr("__fspath__")? {
            let file = py
                .import("builtins")?
                .getattr("open")?
                .call1((source, "rb"))?;
            let result = StatusBatch::ndjson_from_reader(py, &file, threads);
            file.call_method0("close")?;
            return result;
        }
        if source.hasattr("read")? {
            return StatusBatch::ndjson_from_reader(py, source, threads);
        }
        let Some((bytes, _)) = source_bytes(source) else {
            return Err(PyTypeError::new_err(
                "from_ndjson takes bytes, str, an os.PathLike path or a binary file",
            ));
        };
        add_lines(py, &mut builder, &mut errors, &bytes, false, threads)?;
        Ok(StatusBatch::new(builder, errors))
    }

    fn __len__(&self) -> usize {
        self.columns.len()
    }

    /// The batch's memory, for `sys.getsizeof`: the columns and tables in Rust, and the error
    /// entries (not the exception objects they keep).
    fn __sizeof__(&self) -> usize {
        let (entries, tables) = self.columns.heap_bytes();
        std::mem::size_of::<Self>()
            + entries
            + tables
            + self.errors.capacity() * std::mem::size_of::<ErrorEntry>()
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
        StatusBatchIter {
            batch: slf.unbind(),
            next: 0,
        }
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
            .map(|e| (e.index, e.type_name.clone(), e.message.clone()))
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

    /// Shows the collector the stored exceptions. Once raised, an exception's traceback refers
    /// to the frames it passed through, and one of them usually holds this batch: a cycle that
    /// only the collector can free, and only if it sees the batch's references. (The exception
    /// clears its traceback when the collector breaks the cycle; the batch itself never changes,
    /// so it needs no `__clear__`.)
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for error in &self.errors {
            visit.call(&error.exception)?;
        }
        Ok(())
    }

    /// Pickles the columns as a few byte strings.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let batch = slf.get();
        let parts = batch.columns.to_parts();
        let errors = batch
            .errors
            .iter()
            .map(|e| {
                (
                    e.index,
                    e.type_name.as_str(),
                    e.message.as_str(),
                    e.exception.bind(py),
                )
                    .into_pyobject(py)
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
            Vec<(usize, String, String, Py<PyAny>)>,
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
        let errors: Vec<ErrorEntry> = errors
            .into_iter()
            .map(|(index, type_name, message, exception)| ErrorEntry {
                index,
                type_name,
                message,
                exception,
            })
            .collect();
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
    next: usize,
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
        let index = slf.next;
        let batch = slf.batch.get();
        if index >= batch.columns.len() {
            return Ok(None);
        }
        slf.next += 1;
        let model = Model::get(py)?;
        slf.batch.get().build(py, model, index).map(Some)
    }
}
