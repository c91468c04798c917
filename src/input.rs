//! Reading Python inputs without copying: the bytes of a JSON document, and the fields of a dict.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PyString};
use pyo3::Borrowed;

use crate::cpython::{self, NameMatch};
use crate::errors::Error;
use crate::instances::{is_exact_str, FieldValue};
use crate::model::Model;
use iqm_runstatus_core::parse::Presence;
use iqm_runstatus_core::status::StatusCode;
use iqm_runstatus_core::{Error as CoreError, Field};

/// Which Python types a JSON entry point reads natively.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// `bytes`, `bytearray`, `str` and contiguous buffers such as `memoryview`.
    AnyBuffer,
    /// `bytes`, `bytearray` and `str`, as pydantic's `model_validate_json` takes.
    BytesOrStr,
}

/// Runs `parse` on the UTF-8 bytes of `raw`; `Err(Unusual)` for anything else.
///
/// The parse must read memory that cannot change until it ends: building its result allocates,
/// an allocation can run the collector and so any finalizer, and another thread or process can
/// write a buffer that is exported. So `bytes` and `str`, which are immutable, are read in
/// place, and a `bytearray` or `memoryview` is copied first. Subclasses go to the pure path:
/// `json.loads` calls their own `decode()`.
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
            .map_err(|_| Error::UsePurePath);
    }
    let copyable = raw.is_exact_instance_of::<PyByteArray>()
        || (accept == Accept::AnyBuffer && raw.is_exact_instance_of::<PyMemoryView>());
    if !copyable {
        return Err(Error::UsePurePath);
    }
    // A status payload is short: it is copied to the stack, a longer one to the heap.
    let mut small = [0u8; SMALL_COPY];
    let copy = copy_buffer(raw, &mut small)?;
    let bytes = match &copy {
        Copy::Small(len) => small.get(..*len).unwrap_or_default(),
        Copy::Large(copy) => copy.as_slice(),
    };
    Ok(parse(bytes))
}

/// Buffers up to this long are copied to the stack.
const SMALL_COPY: usize = 512;

/// Where [`copy_buffer`] put the bytes.
enum Copy {
    /// In the first `len` bytes of the caller's array.
    Small(usize),
    Large(Vec<u8>),
}

/// Copies the bytes of a contiguous buffer into `small`, or the heap if they do not fit;
/// `Err(Unusual)` if it has none (a strided or released view) or the copy cannot be allocated.
fn copy_buffer(raw: &Bound<'_, PyAny>, small: &mut [u8]) -> Result<Copy, Error> {
    let mut view = std::mem::MaybeUninit::<ffi::Py_buffer>::uninit();
    // SAFETY: a successful PyObject_GetBuffer fills `view`, released below on every path;
    // PyBUF_SIMPLE refuses non-contiguous buffers, which the pure path copies instead. Only
    // the copy runs while the buffer is exported, and it runs no Python code.
    unsafe {
        if ffi::PyObject_GetBuffer(raw.as_ptr(), view.as_mut_ptr(), ffi::PyBUF_SIMPLE) != 0 {
            ffi::PyErr_Clear();
            return Err(Error::UsePurePath);
        }
        let mut view = view.assume_init();
        let len = usize::try_from(view.len).unwrap_or(0);
        let bytes: &[u8] = if view.buf.is_null() || len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(view.buf.cast::<u8>(), len)
        };
        let copy = match small.get_mut(..len) {
            Some(into) => {
                into.copy_from_slice(bytes);
                Ok(Copy::Small(len))
            }
            None => {
                let mut copy = Vec::new();
                match copy.try_reserve_exact(len) {
                    Ok(()) => {
                        copy.extend_from_slice(bytes);
                        Ok(Copy::Large(copy))
                    }
                    Err(_) => Err(Error::UsePurePath),
                }
            }
        };
        ffi::PyBuffer_Release(&mut view);
        copy
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
    let dict = object
        .cast_exact::<PyDict>()
        .map_err(|_| Error::UsePurePath)?;
    let py = object.py();
    // The field values are taken in a walk that allocates nothing and runs no Python code, so
    // no finalizer can change the dict under it (the reference copies the dict first); they
    // are read after it.
    let mut status = None;
    let mut message = None;
    let mut warnings = None;
    let mut position: ffi::Py_ssize_t = 0;
    let mut key: *mut ffi::PyObject = std::ptr::null_mut();
    let mut value: *mut ffi::PyObject = std::ptr::null_mut();
    // SAFETY: `dict` is an exact dict; PyDict_Next gives borrowed pointers that stay valid
    // while the dict is unchanged, and nothing in the loop can change it: the key is compared
    // without allocating, and the value only gains a reference.
    while unsafe { ffi::PyDict_Next(dict.as_ptr(), &mut position, &mut key, &mut value) } != 0 {
        let (key, value) = unsafe { (Borrowed::from_ptr(py, key), Borrowed::from_ptr(py, value)) };
        let slot = match field_of_key(model, &key)? {
            None => continue,
            Some(Field::Status) => &mut status,
            Some(Field::Message) => &mut message,
            Some(Field::Warnings) => &mut warnings,
        };
        *slot = Some(value.to_owned());
    }
    let status = status.ok_or(CoreError::MissingStatus)?;
    Ok(DictFields {
        status: status_code(model, &status)?,
        message: message.map_or(Ok(Presence::Absent), string_or_none)?,
        warnings: warnings.map_or(Ok(Presence::Absent), warnings_or_none)?,
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
        return Err(Error::UsePurePath);
    };
    let fields = [Field::Status, Field::Message, Field::Warnings];
    match cpython::match_ascii_name(key, &[c"status", c"message", c"warnings"]) {
        NameMatch::Name(index) => Ok(fields.get(index).copied()),
        NameMatch::Other => Ok(None),
        // A legacy str that is not ready goes to the pure path.
        NameMatch::UsePurePath => Err(Error::UsePurePath),
    }
}

fn status_code(model: &Model, value: &Bound<'_, PyAny>) -> Result<StatusCode, Error> {
    // An exact str first, as `json.loads` gives it: a member is an instance of its enum, never
    // an exact str, so it is looked for (among every member) only when the value is not one.
    let Ok(text) = value.cast_exact::<PyString>() else {
        return model.code_of_member(value).ok_or(Error::UsePurePath);
    };
    let text = text.to_str().map_err(|_| Error::UsePurePath)?;
    (model.vocabulary.code_of(text.as_bytes())).ok_or(Error::Core(CoreError::UnknownStatus))
}

fn string_or_none(value: Bound<'_, PyAny>) -> Result<FieldValue<'_>, Error> {
    if value.is_none() {
        Ok(Presence::Null)
    } else if is_exact_str(&value) {
        // pydantic keeps an exact str as it is, lone surrogates included.
        Ok(Presence::Value(value))
    } else {
        Err(Error::Core(CoreError::WrongType(Field::Message)))
    }
}

fn warnings_or_none(value: Bound<'_, PyAny>) -> Result<FieldValue<'_>, Error> {
    if value.is_none() {
        return Ok(Presence::Null);
    }
    let list = value
        .cast_exact::<PyList>()
        .map_err(|_| CoreError::WrongType(Field::Warnings))?;
    // pydantic validates into a new list: the caller's list is never shared.
    Ok(Presence::Value(copy_str_list(list)?.into_any()))
}

/// A new list holding the items of `list`, which must all be exact `str`s.
fn copy_str_list<'py>(list: &Bound<'py, PyList>) -> Result<Bound<'py, PyList>, Error> {
    let py = list.py();
    let len = list.len();
    let size = ffi::Py_ssize_t::try_from(len).map_err(|_| Error::UsePurePath)?;
    // SAFETY: PyList_New gives an owned list of `size` NULL slots or NULL; each slot below is
    // set once, and a list dropped with slots still NULL is freed correctly.
    let copy = unsafe { Bound::from_owned_ptr_or_opt(py, ffi::PyList_New(size)) }
        .ok_or(Error::UsePurePath)?
        .cast_into::<PyList>()
        .map_err(|_| Error::UsePurePath)?;
    // The allocation may have run a finalizer that changed `list`: the pure path reads it as
    // it is now. The copy below runs no Python code.
    if list.len() != len {
        return Err(Error::UsePurePath);
    }
    for (at, index) in (0..size).zip(0..len) {
        let item = list.get_item(index).map_err(|_| Error::UsePurePath)?;
        if !is_exact_str(&item) {
            return Err(Error::Core(CoreError::WrongType(Field::Warnings)));
        }
        // SAFETY: `at` is in range and its slot still NULL; the slot takes the new reference.
        unsafe { ffi::PyList_SET_ITEM(copy.as_ptr(), at, item.into_ptr()) };
    }
    Ok(copy)
}
