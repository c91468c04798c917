//! Reading Python inputs without copying: the bytes of a JSON document, and the fields of a dict.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString};

use crate::cpython::{self, NameMatch};
use crate::error::{Error, Field};
use crate::model::Model;
use crate::objects::{is_exact_str, FieldValue};
use crate::parse::Slot;
use crate::status::StatusCode;

/// Which Python types a JSON entry point reads natively.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// `bytes`, `bytearray`, `str` and contiguous buffers such as `memoryview`.
    AnyBuffer,
    /// `bytes`, `bytearray` and `str`, as pydantic's `model_validate_json` takes.
    BytesOrStr,
}

/// Runs `parse` on the UTF-8 bytes of `raw`, borrowed; `Err(Unusual)` for anything else.
pub fn with_json_bytes<T>(
    raw: &Bound<'_, PyAny>,
    accept: Accept,
    parse: impl FnOnce(&[u8]) -> T,
) -> Result<T, Error> {
    if let Ok(bytes) = raw.cast_exact::<PyBytes>() {
        return Ok(parse(bytes.as_bytes()));
    }
    if let Ok(text) = raw.cast_exact::<PyString>() {
        // Fails for a str holding lone surrogates: json.loads takes it, so the pure path must.
        return text
            .to_str()
            .map(|text| parse(text.as_bytes()))
            .map_err(|_| Error::Unusual);
    }
    // A bytearray too goes through the buffer protocol: an exported bytearray cannot be
    // resized, and building the result allocates, which can run a collection and so any
    // finalizer.
    if accept == Accept::AnyBuffer || raw.is_exact_instance_of::<PyByteArray>() {
        return with_buffer(raw, parse);
    }
    Err(Error::Unusual)
}

fn with_buffer<T>(raw: &Bound<'_, PyAny>, parse: impl FnOnce(&[u8]) -> T) -> Result<T, Error> {
    let mut view = std::mem::MaybeUninit::<ffi::Py_buffer>::uninit();
    // SAFETY: a successful PyObject_GetBuffer fills `view`; it is released below on every path.
    // PyBUF_SIMPLE refuses non-contiguous buffers, which the pure path copies instead.
    unsafe {
        if ffi::PyObject_GetBuffer(raw.as_ptr(), view.as_mut_ptr(), ffi::PyBUF_SIMPLE) != 0 {
            ffi::PyErr_Clear();
            return Err(Error::Unusual);
        }
        let mut view = view.assume_init();
        let len = usize::try_from(view.len).unwrap_or(0);
        let bytes: &[u8] = if view.buf.is_null() || len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(view.buf.cast::<u8>(), len)
        };
        let result = parse(bytes);
        ffi::PyBuffer_Release(&mut view);
        Ok(result)
    }
}

/// The fields of a status dict, when every one of them has a form the fast path reproduces.
pub struct DictFields<'py> {
    pub status: StatusCode,
    pub message: FieldValue<'py>,
    pub warnings: FieldValue<'py>,
}

/// Reads a status dict as `RunStatus(status=Status(d['status']), **rest)` would, or says why not.
pub fn read_dict<'py>(model: &Model, object: &Bound<'py, PyAny>) -> Result<DictFields<'py>, Error> {
    let dict = object.cast_exact::<PyDict>().map_err(|_| Error::Unusual)?;
    let mut status = None;
    let mut message = Slot::Absent;
    let mut warnings = Slot::Absent;
    for (key, value) in dict.iter() {
        match field_of_key(model, &key)? {
            None => {}
            Some(Field::Status) => status = Some(status_code(model, &value)?),
            Some(Field::Message) => message = string_or_none(value)?,
            Some(Field::Warnings) => warnings = warnings_or_none(value)?,
        }
    }
    Ok(DictFields {
        status: status.ok_or(Error::MissingStatus)?,
        message,
        warnings,
    })
}

fn field_of_key(model: &Model, key: &Bound<'_, PyAny>) -> Result<Option<Field>, Error> {
    for field in [Field::Status, Field::Message, Field::Warnings] {
        if model.key(field).as_ptr() == key.as_ptr() {
            return Ok(Some(field));
        }
    }
    let Ok(key) = key.cast_exact::<PyString>() else {
        // The reference raises TypeError for a non-str keyword; pydantic treats subclasses
        // its own way: both are left to the pure path.
        return Err(Error::Unusual);
    };
    let fields = [Field::Status, Field::Message, Field::Warnings];
    match cpython::match_ascii_name(key, &[c"status", c"message", c"warnings"]) {
        NameMatch::Name(index) => Ok(fields.get(index).copied()),
        NameMatch::Other => Ok(None),
        // A legacy str that is not ready goes to the pure path.
        NameMatch::Unusual => Err(Error::Unusual),
    }
}

fn status_code(model: &Model, value: &Bound<'_, PyAny>) -> Result<StatusCode, Error> {
    if let Some(code) = model.code_of_member(value) {
        return Ok(code);
    }
    let text = value.cast_exact::<PyString>().map_err(|_| Error::Unusual)?;
    let text = text.to_str().map_err(|_| Error::Unusual)?;
    StatusCode::from_value(text.as_bytes()).ok_or(Error::UnknownStatus)
}

fn string_or_none(value: Bound<'_, PyAny>) -> Result<FieldValue<'_>, Error> {
    if value.is_none() {
        Ok(Slot::Null)
    } else if is_exact_str(&value) {
        // pydantic keeps an exact str as it is, lone surrogates included.
        Ok(Slot::Value(value))
    } else {
        Err(Error::WrongType(Field::Message))
    }
}

fn warnings_or_none(value: Bound<'_, PyAny>) -> Result<FieldValue<'_>, Error> {
    if value.is_none() {
        return Ok(Slot::Null);
    }
    let list = value
        .cast_exact::<PyList>()
        .map_err(|_| Error::WrongType(Field::Warnings))?;
    if !list.iter().all(|item| is_exact_str(&item)) {
        return Err(Error::WrongType(Field::Warnings));
    }
    // pydantic validates into a new list: the caller's list is never shared.
    let copy = list.get_slice(0, list.len());
    Ok(Slot::Value(copy.into_any()))
}
