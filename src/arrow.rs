//! The Arrow export: a batch's columns (and a tracker's jobs) as one Arrow record batch, handed
//! to pyarrow, polars, DuckDB and other readers through the Arrow PyCapsule interface
//! (`__arrow_c_schema__`, `__arrow_c_stream__`), with no Python object per entry.
//!
//! Columns: `status` (dictionary, `uint8` keys over the `Status` values in enum order; null for an
//! error entry), `message` (dictionary, `uint32` keys = the batch's string ids, over its table
//! of distinct strings), `warnings` (list of strings), `error` (`"Type: message"` of an error
//! entry). Absent and null fields both export as null. A tracker's snapshot puts `job_id` first.
//!
//! A string kept with a lone surrogate (only the pure path makes one) is not valid UTF-8, which
//! an Arrow string must be: it exports as `text.encode("utf-8", "surrogatepass").decode("utf-8",
//! "replace")` does in Python, each invalid byte sequence a U+FFFD.

use std::ffi::CStr;
use std::sync::Arc;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::types::{UInt32Type, UInt8Type};
use arrow_array::{
    ArrayRef, DictionaryArray, ListArray, RecordBatch, RecordBatchIterator, StringArray,
    UInt32Array, UInt8Array,
};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Schema, SchemaRef};
use pyo3::exceptions::{PyOverflowError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::errors::ErrorEntry;
use iqm_runstatus_core::columns::{Columns, Table, INVALID};
use iqm_runstatus_core::status::Vocabulary;

const STREAM_CAPSULE: &CStr = c"arrow_array_stream";
const SCHEMA_CAPSULE: &CStr = c"arrow_schema";

/// Why a record batch could not be built.
#[derive(Debug)]
pub enum ExportError {
    /// A string column past Arrow's 32-bit offsets (2 GiB of text, or 2^31 list items).
    TooLarge(&'static str),
    Arrow(ArrowError),
}

impl From<ArrowError> for ExportError {
    fn from(err: ArrowError) -> Self {
        ExportError::Arrow(err)
    }
}

impl From<ExportError> for PyErr {
    fn from(err: ExportError) -> PyErr {
        match err {
            ExportError::TooLarge(column) => PyOverflowError::new_err(format!(
                "the {column} column holds more than an Arrow string array can (2 GiB of text); \
                 export slices of the batch (batch[i:j]) one at a time"
            )),
            ExportError::Arrow(err) => {
                PyRuntimeError::new_err(format!("could not build the Arrow export: {err}"))
            }
        }
    }
}

fn offset(value: usize, column: &'static str) -> Result<i32, ExportError> {
    i32::try_from(value).map_err(|_| ExportError::TooLarge(column))
}

/// Strings by position, valid UTF-8, with 32-bit offsets: the values of a string array.
struct Utf8Column {
    data: Vec<u8>,
    offsets: Vec<i32>,
}

impl Utf8Column {
    fn with_capacity(items: usize, bytes: usize) -> Utf8Column {
        let mut offsets = Vec::with_capacity(items.saturating_add(1));
        offsets.push(0);
        Utf8Column {
            data: Vec::with_capacity(bytes),
            offsets,
        }
    }

    /// Appends `text`, with every invalid UTF-8 sequence replaced by U+FFFD.
    fn push(&mut self, text: &[u8], column: &'static str) -> Result<(), ExportError> {
        match std::str::from_utf8(text) {
            Ok(_) => self.data.extend_from_slice(text),
            Err(_) => self
                .data
                .extend_from_slice(String::from_utf8_lossy(text).as_bytes()),
        }
        self.offsets.push(offset(self.data.len(), column)?);
        Ok(())
    }

    fn get(&self, index: usize) -> Option<&[u8]> {
        let start = usize::try_from(*self.offsets.get(index)?).ok()?;
        let end = usize::try_from(*self.offsets.get(index.checked_add(1)?)?).ok()?;
        self.data.get(start..end)
    }

    fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    fn into_array(self, nulls: Option<NullBuffer>) -> Result<StringArray, ExportError> {
        // The offsets start at 0 and never decrease (each is the data's length after a push),
        // which is all `OffsetBuffer::new` asserts.
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.offsets));
        Ok(StringArray::try_new(
            offsets,
            Buffer::from_vec(self.data),
            nulls,
        )?)
    }
}

/// The table's strings, made valid UTF-8. A table that is valid as a whole (the common case)
/// is copied in one piece.
fn table_strings(table: &Table, column: &'static str) -> Result<Utf8Column, ExportError> {
    offset(table.data().len(), column)?;
    let ends = table.ends();
    let mut strings = Utf8Column::with_capacity(ends.len(), table.data().len());
    if std::str::from_utf8(table.data()).is_ok() {
        strings.data.extend_from_slice(table.data());
        for &end in ends {
            strings.offsets.push(offset(end, column)?);
        }
        return Ok(strings);
    }
    for id in 0..ends.len() {
        let id = u32::try_from(id).map_err(|_| ExportError::TooLarge(column))?;
        strings.push(table.get(id).unwrap_or_default(), column)?;
    }
    Ok(strings)
}

fn nulls_where(len: usize, valid: impl FnMut(usize) -> bool) -> NullBuffer {
    NullBuffer::new(BooleanBuffer::collect_bool(len, valid))
}

fn status_array(columns: &Columns, vocabulary: &Vocabulary) -> Result<ArrayRef, ExportError> {
    let codes = columns.codes();
    // An error entry's key is null; its slot holds 0 rather than 255, as some readers check
    // the keys under nulls too.
    let keys: Vec<u8> = codes
        .iter()
        .map(|&code| if code == INVALID { 0 } else { code })
        .collect();
    let nulls = nulls_where(codes.len(), |i| {
        codes.get(i).is_some_and(|&code| code != INVALID)
    });
    let keys = UInt8Array::try_new(ScalarBuffer::from(keys), Some(nulls))?;
    let values = StringArray::from_iter_values(vocabulary.values().map(String::from_utf8_lossy));
    Ok(Arc::new(DictionaryArray::<UInt8Type>::try_new(
        keys,
        Arc::new(values),
    )?))
}

fn message_array(columns: &Columns, strings: Utf8Column) -> Result<ArrayRef, ExportError> {
    let len = columns.len();
    let keys: Vec<u32> = (0..len)
        .map(|i| columns.message_id(i).unwrap_or(0))
        .collect();
    let nulls = nulls_where(len, |i| columns.message_id(i).is_some());
    let keys = UInt32Array::try_new(ScalarBuffer::from(keys), Some(nulls))?;
    let values = strings.into_array(None)?;
    Ok(Arc::new(DictionaryArray::<UInt32Type>::try_new(
        keys,
        Arc::new(values),
    )?))
}

fn warnings_item() -> FieldRef {
    Arc::new(Field::new("item", DataType::Utf8, false))
}

/// The string ids of warnings list `list`.
fn list_items(list: &[u8]) -> impl Iterator<Item = usize> + '_ {
    list.chunks_exact(4).filter_map(|id| {
        let id = <[u8; 4]>::try_from(id).ok()?;
        usize::try_from(u32::from_le_bytes(id)).ok()
    })
}

fn warnings_array(columns: &Columns, strings: &Utf8Column) -> Result<ArrayRef, ExportError> {
    const COLUMN: &str = "warnings";
    let len = columns.len();
    let lists = columns.lists();
    // Each distinct list's items and bytes, so that the column's size is known (and refused
    // when too large) before any of it is copied, from the batch's ten bytes an entry.
    let sizes: Vec<(usize, usize)> = (0..lists.len())
        .map(|id| {
            let list = u32::try_from(id)
                .ok()
                .and_then(|id| lists.get(id))
                .unwrap_or_default();
            list_items(list).fold((0usize, 0usize), |(items, bytes), id| {
                let text = strings.get(id).unwrap_or_default();
                (items.saturating_add(1), bytes.saturating_add(text.len()))
            })
        })
        .collect();
    let (mut total_items, mut total_bytes) = (0usize, 0usize);
    for i in 0..len {
        let size = columns
            .warnings_id(i)
            .and_then(|id| sizes.get(usize::try_from(id).ok()?));
        if let Some(&(items, bytes)) = size {
            total_items = total_items.saturating_add(items);
            total_bytes = total_bytes.saturating_add(bytes);
        }
    }
    offset(total_items, COLUMN)?;
    offset(total_bytes, COLUMN)?;
    let mut items = Utf8Column::with_capacity(total_items, total_bytes);
    let mut offsets = Vec::with_capacity(len.saturating_add(1));
    offsets.push(0i32);
    for i in 0..len {
        if let Some(list) = columns.warnings_id(i).and_then(|id| lists.get(id)) {
            for id in list_items(list) {
                // Already valid UTF-8: appended as it is.
                items
                    .data
                    .extend_from_slice(strings.get(id).unwrap_or_default());
                items.offsets.push(offset(items.data.len(), COLUMN)?);
            }
        }
        offsets.push(offset(items.len(), COLUMN)?);
    }
    let nulls = nulls_where(len, |i| columns.warnings_id(i).is_some());
    Ok(Arc::new(ListArray::try_new(
        warnings_item(),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Arc::new(items.into_array(None)?),
        Some(nulls),
    )?))
}

fn error_array(len: usize, errors: &[ErrorEntry]) -> Result<ArrayRef, ExportError> {
    const COLUMN: &str = "error";
    let mut text = Utf8Column::with_capacity(len, 0);
    let mut valid = vec![false; len];
    let mut errors = errors.iter().peekable();
    for (i, is_error) in valid.iter_mut().enumerate() {
        if let Some(error) = errors.next_if(|error| error.index == i) {
            let line = format!("{}: {}", error.type_name(), error.message());
            text.push(line.as_bytes(), COLUMN)?;
            *is_error = true;
        } else {
            text.offsets.push(offset(text.data.len(), COLUMN)?);
        }
    }
    Ok(Arc::new(text.into_array(Some(NullBuffer::from(valid)))?))
}

fn status_fields() -> Vec<Field> {
    vec![
        Field::new_dictionary("status", DataType::UInt8, DataType::Utf8, true),
        Field::new_dictionary("message", DataType::UInt32, DataType::Utf8, true),
        Field::new("warnings", DataType::List(warnings_item()), true),
        Field::new("error", DataType::Utf8, true),
    ]
}

/// The schema of a batch's export, and of a tracker's with `job_id` first.
pub fn schema(with_job_id: bool) -> SchemaRef {
    let mut fields = Vec::with_capacity(5);
    if with_job_id {
        fields.push(Field::new("job_id", DataType::Utf8, false));
    }
    fields.extend(status_fields());
    Arc::new(Schema::new(fields))
}

/// The columns as one record batch; `errors` sorted by index, as a batch keeps them.
pub fn record_batch(
    vocabulary: &Vocabulary,
    columns: &Columns,
    errors: &[ErrorEntry],
    job_ids: Option<&[String]>,
) -> Result<RecordBatch, ExportError> {
    let strings = table_strings(columns.strings(), "message")?;
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(5);
    if let Some(ids) = job_ids {
        let total = ids.iter().map(String::len).sum();
        let mut column = Utf8Column::with_capacity(ids.len(), total);
        for id in ids {
            column.push(id.as_bytes(), "job_id")?;
        }
        arrays.push(Arc::new(column.into_array(None)?));
    }
    arrays.push(status_array(columns, vocabulary)?);
    let warnings = warnings_array(columns, &strings)?;
    arrays.push(message_array(columns, strings)?);
    arrays.push(warnings);
    arrays.push(error_array(columns.len(), errors)?);
    Ok(RecordBatch::try_new(schema(job_ids.is_some()), arrays)?)
}

/// `__arrow_c_schema__`: the schema as an `arrow_schema` capsule.
pub fn schema_capsule<'py>(py: Python<'py>, schema: &Schema) -> PyResult<Bound<'py, PyCapsule>> {
    let schema = FFI_ArrowSchema::try_from(schema).map_err(ExportError::Arrow)?;
    // The capsule owns the struct: if no reader moves it out, dropping it releases it.
    PyCapsule::new_with_value(py, schema, SCHEMA_CAPSULE)
}

/// `__arrow_c_stream__`: a stream of the one record batch as an `arrow_array_stream` capsule.
/// A reader moves the stream out (leaving it released); one never read is released when the
/// capsule is freed.
pub fn stream_capsule(py: Python<'_>, batch: RecordBatch) -> PyResult<Bound<'_, PyCapsule>> {
    let schema = batch.schema();
    let reader = RecordBatchIterator::new([Ok(batch)], schema);
    let stream = FFI_ArrowArrayStream::new(Box::new(reader));
    PyCapsule::new_with_value(py, stream, STREAM_CAPSULE)
}

/// A batch's or a tracker's statuses in Arrow form, as ``StatusBatch.to_arrow()`` and
/// ``JobTracker.to_arrow()`` return them: any reader of the Arrow PyCapsule interface
/// (``pyarrow.table``, ``polars.DataFrame``, DuckDB) takes it. Columns: ``job_id`` (a tracker's
/// only), ``status``, ``message``, ``warnings``, ``error``.
#[pyclass(frozen, module = "iqm_runstatus._core")]
pub struct ArrowSnapshot {
    batch: RecordBatch,
}

impl ArrowSnapshot {
    pub fn new(batch: RecordBatch) -> ArrowSnapshot {
        ArrowSnapshot { batch }
    }
}

#[pymethods]
impl ArrowSnapshot {
    /// The schema, as an ``arrow_schema`` PyCapsule.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, self.batch.schema_ref())
    }

    /// The rows as an ``arrow_array_stream`` PyCapsule; ``requested_schema`` is ignored (the
    /// export has one schema, which readers may cast).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        stream_capsule(py, self.batch.clone())
    }

    fn __len__(&self) -> usize {
        self.batch.num_rows()
    }

    fn __repr__(&self) -> String {
        format!("ArrowSnapshot(rows={})", self.batch.num_rows())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_past_i32_are_refused() {
        assert!(offset(i32::MAX as usize, "message").is_ok());
        assert!(matches!(
            offset(i32::MAX as usize + 1, "message"),
            Err(ExportError::TooLarge("message"))
        ));
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let mut column = Utf8Column::with_capacity(2, 0);
        column.push(b"a\xed\xa0\x80b", "message").unwrap();
        column.push("é".as_bytes(), "message").unwrap();
        assert_eq!(column.get(0), Some("a\u{fffd}\u{fffd}\u{fffd}b".as_bytes()));
        assert_eq!(column.get(1), Some("é".as_bytes()));
        assert_eq!(column.get(2), None);
    }
}
