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

use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::pyclass::{PyTraverseError, PyVisit};
use pyo3::types::{PyBytes, PyCapsule, PyDict, PyList, PySlice, PyString, PyTuple};

use crate::convert::{
    entry_from_run_status, run_status_from_entry, same_values, same_values_owned, status_mask,
    GcPause,
};
use crate::errors::{core_to_py, ErrorEntry, ErrorKind, ErrorKinds, Raise};
use crate::model::Model;
use crate::payloads::{element_object, str_bytes, thread_count, Payloads};
use crate::sources::{read_json_array, read_ndjson};
use iqm_runstatus_core::columns::{Builder, Columns, OwnedEntry, Table, INVALID};
use iqm_runstatus_core::status::{StatusCode, Vocabulary};
use iqm_runstatus_core::Error as CoreError;

/// The layout version of the pickled state (2: error entries keep their payload; 3: the
/// status values the codes stand for).
const STATE_VERSION: u8 = 3;

/// The pickled state of a batch: the columns as byte strings, the error entries as
/// `(index, type name, message, exception or payload)`, and the status values the codes
/// number (the vocabulary's, in its order). Pickled as a tuple in this order.
struct BatchState<'py> {
    version: u8,
    codes: Bound<'py, PyBytes>,
    presence: Bound<'py, PyBytes>,
    message_ids: Bound<'py, PyBytes>,
    warnings_ids: Bound<'py, PyBytes>,
    strings_data: Bound<'py, PyBytes>,
    strings_ends: Bound<'py, PyBytes>,
    lists_data: Bound<'py, PyBytes>,
    lists_ends: Bound<'py, PyBytes>,
    errors: Bound<'py, PyAny>,
    statuses: Bound<'py, PyAny>,
}

type BatchStateTuple<'py> = (
    u8,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
);

impl<'py> BatchState<'py> {
    fn into_tuple(self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let tuple: BatchStateTuple<'py> = (
            self.version,
            self.codes,
            self.presence,
            self.message_ids,
            self.warnings_ids,
            self.strings_data,
            self.strings_ends,
            self.lists_data,
            self.lists_ends,
            self.errors,
            self.statuses,
        );
        tuple.into_pyobject(py)
    }

    fn from_tuple(state: &Bound<'py, PyAny>) -> PyResult<BatchState<'py>> {
        let (
            version,
            codes,
            presence,
            message_ids,
            warnings_ids,
            strings_data,
            strings_ends,
            lists_data,
            lists_ends,
            errors,
            statuses,
        ): BatchStateTuple<'py> = state.extract()?;
        Ok(BatchState {
            version,
            codes,
            presence,
            message_ids,
            warnings_ids,
            strings_data,
            strings_ends,
            lists_data,
            lists_ends,
            errors,
            statuses,
        })
    }
}

/// Many job statuses, parsed at once and kept in compact columns in Rust.
///
/// ``batch[i]`` builds the ``RunStatus`` equal to ``RunStatus.from_json(payloads[i])``, or
/// raises the exception that call raises. ``codes`` gives one byte per entry: the position of
/// its ``Status`` member in enum order (0 for the first), 255 for an error entry.
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
        let mut builder = Builder::try_with_capacity(entries.len()).map_err(core_to_py)?;
        for entry in entries {
            builder.push_entry(&entry.borrow()).map_err(core_to_py)?;
        }
        Ok(StatusBatch::new(builder, Vec::new()))
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
        let (builder, errors) = read_json_array(py, raw, thread_count(threads)?)?;
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
        let (builder, errors) = read_ndjson(py, source, thread_count(threads)?)?;
        Ok(StatusBatch::new(builder, errors))
    }

    /// The schema of the Arrow export, as an ``arrow_schema`` PyCapsule.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        crate::arrow::schema_capsule(py, &crate::arrow::schema(false))
    }

    /// The entries in Arrow form, built once: an ``ArrowSnapshot`` that readers which take a
    /// batch as a sequence of ``RunStatus`` (``polars.DataFrame``) read as Arrow.
    fn to_arrow(&self, py: Python<'_>) -> PyResult<crate::arrow::ArrowSnapshot> {
        let vocabulary = Model::get(py)?.vocabulary;
        let batch = py
            .detach(|| crate::arrow::record_batch(vocabulary, &self.columns, &self.errors, None))?;
        Ok(crate::arrow::ArrowSnapshot::new(batch))
    }

    /// The entries as an Arrow stream (an ``arrow_array_stream`` PyCapsule), so that
    /// ``pyarrow.table(batch)`` and DuckDB read the batch with no Python object per entry
    /// (polars reads a sequence as rows first: give it ``batch.to_arrow()``). ``requested_schema`` is ignored: the export has one schema,
    /// which readers may cast.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let vocabulary = Model::get(py)?.vocabulary;
        let batch = py
            .detach(|| crate::arrow::record_batch(vocabulary, &self.columns, &self.errors, None))?;
        crate::arrow::stream_capsule(py, batch)
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
            let isize_len = isize::try_from(len).map_err(|_| core_to_py(CoreError::TooLarge))?;
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
        let wanted = status_mask(py, statuses)?;
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
        let items = self
            .columns
            .codes()
            .iter()
            .map(|&code| match StatusCode::from_code(code) {
                Some(status) => Ok(model.member(status)?.clone_ref(py)),
                None => Ok(py.None()),
            });
        PyList::new(py, items.collect::<PyResult<Vec<_>>>()?)
    }

    /// One ``uint8`` per entry, read-only and shared with the batch (no copy): each entry's
    /// ``Status`` member by its position in enum order, 255 an error entry.
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
        let len =
            ffi::Py_ssize_t::try_from(codes.len()).map_err(|_| core_to_py(CoreError::TooLarge))?;
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
        let values = Model::get(py)?.vocabulary.values();
        let statuses = values.map(|value| String::from_utf8_lossy(value).into_owned());
        let state = BatchState {
            version: STATE_VERSION,
            codes: PyBytes::new(py, parts.codes),
            presence: PyBytes::new(py, parts.presence),
            message_ids: PyBytes::new(py, &parts.message),
            warnings_ids: PyBytes::new(py, &parts.warnings),
            strings_data: PyBytes::new(py, parts.strings.0),
            strings_ends: PyBytes::new(py, &parts.strings.1),
            lists_data: PyBytes::new(py, parts.lists.0),
            lists_ends: PyBytes::new(py, &parts.lists.1),
            errors: PyList::new(py, errors)?.into_any(),
            statuses: PyTuple::new(py, statuses)?.into_any(),
        }
        .into_tuple(py)?;
        let rebuild = slf.get_type().getattr("_from_state")?;
        (rebuild, (state,)).into_pyobject(py)
    }

    /// Rebuilds a batch from the state `__reduce__` gives, checked.
    #[staticmethod]
    fn _from_state(state: &Bound<'_, PyAny>) -> PyResult<Self> {
        let state = BatchState::from_tuple(state)?;
        let errors: Vec<(usize, String, String, Bound<'_, PyAny>)> = state.errors.extract()?;
        if state.version != STATE_VERSION {
            return Err(core_to_py(CoreError::BadState("unknown version")));
        }
        let vocabulary = Model::get(state.codes.py())?.vocabulary;
        let statuses: Vec<String> = state.statuses.extract()?;
        let codes = recode(vocabulary, &statuses, state.codes.as_bytes())?;
        let codes = &*codes;
        let columns = Columns::from_parts(
            vocabulary.len(),
            codes,
            state.presence.as_bytes(),
            state.message_ids.as_bytes(),
            state.warnings_ids.as_bytes(),
            Table::from_parts(state.strings_data.as_bytes(), state.strings_ends.as_bytes())
                .map_err(core_to_py)?,
            Table::from_parts(state.lists_data.as_bytes(), state.lists_ends.as_bytes())
                .map_err(core_to_py)?,
        )
        .map_err(core_to_py)?;
        let mut kinds = ErrorKinds::default();
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
                    kind: kinds.intern(type_name, message),
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
            return Err(core_to_py(CoreError::BadState(
                "errors do not match the invalid entries",
            )));
        }
        Ok(StatusBatch { columns, errors })
    }
}

/// The codes of a batch pickled with the vocabulary `statuses`, as codes of `vocabulary`:
/// statuses map by value, and one this vocabulary lacks is a `ValueError` naming it.
fn recode<'c>(
    vocabulary: &Vocabulary,
    statuses: &[String],
    codes: &'c [u8],
) -> PyResult<Cow<'c, [u8]>> {
    let same = statuses.len() == vocabulary.len()
        && statuses
            .iter()
            .zip(vocabulary.values())
            .all(|(a, b)| a.as_bytes() == b);
    if same {
        return Ok(Cow::Borrowed(codes));
    }
    let mapped: Vec<Option<StatusCode>> = statuses
        .iter()
        .map(|value| vocabulary.code_of(value.as_bytes()))
        .collect();
    codes
        .iter()
        .map(|&code| {
            if code == INVALID {
                return Ok(INVALID);
            }
            match mapped.get(usize::from(code)) {
                Some(Some(status)) => Ok(status.code()),
                Some(None) => Err(PyValueError::new_err(format!(
                    "the pickled batch holds the status {:?}, which this Status does not have",
                    statuses.get(usize::from(code)).map_or("", String::as_str)
                ))),
                None => Err(core_to_py(CoreError::BadState(
                    "a code of no pickled status",
                ))),
            }
        })
        .collect::<PyResult<Vec<u8>>>()
        .map(Cow::Owned)
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
        let batch = slf.batch.clone_ref(py);
        // Built once the iterator is no longer borrowed: an error entry runs the pure path,
        // Python code during which another thread may call next() on the same iterator.
        drop(slf);
        let model = Model::get(py)?;
        batch.get().build(py, model, index).map(Some)
    }
}
