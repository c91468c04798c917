//! Building `RunStatus` instances directly, without running pydantic validation.
//!
//! An instance is laid out exactly as pydantic leaves a validated one: a `__dict__` with the
//! three fields in declaration order, `__pydantic_fields_set__` holding the names given,
//! and `__pydantic_extra__` and `__pydantic_private__` set to `None`.

use std::os::raw::c_char;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};

use crate::cpython;
use crate::errors::{py_size, Error};
use crate::model::Model;
use iqm_runstatus_core::parse::Presence;
use iqm_runstatus_core::status::StatusCode;
use iqm_runstatus_core::Field;

/// A field value ready to be stored: absent (left at the default, not in the fields set),
/// `None`, or an object.
pub type FieldValue<'py> = Presence<Bound<'py, PyAny>>;

/// A new `str` from UTF-8 the parser has already validated.
pub fn new_str<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: `ascii` is checked here.
    unsafe { new_str_trusting_ascii(py, text, text.is_ascii()) }
}

/// [`new_str`] for text the caller knows to be ASCII: then it is copied in without a check;
/// otherwise it is decoded.
///
/// # Safety
/// `ascii` may be true only if `text` is ASCII: a `str` flagged ASCII must hold only ASCII.
// Inlined: it is on the path of every string a single payload builds.
#[inline(always)]
pub unsafe fn new_str_trusting_ascii<'py>(
    py: Python<'py>,
    text: &str,
    ascii: bool,
) -> PyResult<Bound<'py, PyAny>> {
    debug_assert!(!ascii || text.is_ascii());
    if ascii {
        // SAFETY: the caller's guarantee.
        return unsafe { cpython::new_ascii_str(py, text) };
    }
    new_non_ascii_str(py, text)
}

fn new_non_ascii_str<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    let len = py_size(text.len(), "string")?;
    // SAFETY: the pointer and length describe a live `&str`; the result is an owned reference.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_FromStringAndSize(text.as_ptr().cast::<c_char>(), len),
        )
    }
}

/// A new `list` of `str`.
pub fn new_str_list<'py, 's>(
    py: Python<'py>,
    items: impl ExactSizeIterator<Item = &'s str>,
) -> PyResult<Bound<'py, PyAny>> {
    new_list_of(py, items, |item| new_str(py, item))
}

/// A new `list` of what `make` makes of each item.
pub fn new_list_of<'py, T>(
    py: Python<'py>,
    items: impl ExactSizeIterator<Item = T>,
    mut make: impl FnMut(T) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let len = py_size(items.len(), "list")?;
    // SAFETY: a new list of `len` NULL slots is filled at most once per slot; it is returned
    // only when every slot was filled, and otherwise dropped with the slots filled so far
    // (list_dealloc skips NULLs).
    unsafe {
        let list = Bound::from_owned_ptr_or_err(py, ffi::PyList_New(len))?;
        let mut filled = 0;
        for (index, item) in (0..len).zip(items) {
            ffi::PyList_SET_ITEM(list.as_ptr(), index, make(item)?.into_ptr());
            filled += 1;
        }
        if filled != len {
            return Err(Error::ShortList.into());
        }
        Ok(list)
    }
}

/// A `RunStatus` holding these values, equal in every respect to the one pydantic builds from
/// `RunStatus(status=..., **given)`.
pub fn new_run_status<'py>(
    py: Python<'py>,
    model: &Model,
    status: StatusCode,
    message: FieldValue<'py>,
    warnings: FieldValue<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: every pointer is checked before use and owned by a `Bound` that releases it; the
    // template is a dict and the keys are interned strs, registered by `init`.
    unsafe {
        let template = model.dict_template(status)?.as_ptr();
        let dict = Bound::from_owned_ptr_or_err(py, ffi::PyDict_Copy(template))?;
        // Copying a prepared set of the given names skips hashing and probing them one by one.
        let given = model.fields_set_template(message.is_present(), warnings.is_present());
        let fields_set = Bound::from_owned_ptr_or_err(py, ffi::PySet_New(given.as_ptr()))?;
        for (field, value) in [(Field::Message, message), (Field::Warnings, warnings)] {
            if let Presence::Value(value) = value {
                let key = model.key(field).as_ptr();
                if ffi::PyDict_SetItem(dict.as_ptr(), key, value.as_ptr()) != 0 {
                    return Err(PyErr::fetch(py));
                }
            }
        }
        let class = model.run_status.as_ptr().cast::<ffi::PyTypeObject>();
        let instance = Bound::from_owned_ptr_or_err(py, ffi::PyType_GenericAlloc(class, 0))?;
        if ffi::PyObject_GenericSetDict(instance.as_ptr(), dict.as_ptr(), std::ptr::null_mut()) != 0
        {
            return Err(PyErr::fetch(py));
        }
        // A freshly allocated instance of the class the slots were found on.
        let none = py.None().into_bound(py);
        model
            .slots
            .fill(&instance, [fields_set.into_any(), none.clone(), none])?;
        Ok(instance)
    }
}

/// Whether `object` is exactly a `str` (not a subclass): only those pass through unchanged.
pub fn is_exact_str(object: &Bound<'_, PyAny>) -> bool {
    object.is_exact_instance_of::<PyString>()
}

/// A new `str` from UTF-8 in which lone surrogates may be encoded as `surrogatepass` writes
/// them (the columnar store keeps strings this way so that any Python `str` round-trips).
pub fn new_str_surrogatepass<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let len = py_size(bytes.len(), "string")?;
    // SAFETY: the pointer and length describe a live byte slice; the error handler name is a
    // NUL-terminated static string; the result is an owned reference or NULL with an error set.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_DecodeUTF8(
                bytes.as_ptr().cast::<c_char>(),
                len,
                c"surrogatepass".as_ptr(),
            ),
        )
    }
}

/// A new instance of a `NamedTuple` class holding `items`, made as `tuple.__new__` makes one:
/// the class must be a tuple subclass that adds no fields (checked by [`check_named_tuple`]).
pub fn new_named_tuple<'py, const N: usize>(
    class: &Bound<'py, PyType>,
    items: [Bound<'py, PyAny>; N],
) -> PyResult<Bound<'py, PyAny>> {
    let len = py_size(N, "tuple")?;
    // SAFETY: the class is a tuple subclass with a tuple's layout, so its allocation has room
    // for `len` items; each slot is set once, with a new reference, before the tuple is used.
    unsafe {
        let tuple = Bound::from_owned_ptr_or_err(
            class.py(),
            ffi::PyType_GenericAlloc(class.as_ptr().cast(), len),
        )?;
        for (at, item) in (0..len).zip(items) {
            ffi::PyTuple_SET_ITEM(tuple.as_ptr(), at, item.into_ptr());
        }
        Ok(tuple)
    }
}

/// Checks that `class` is a `NamedTuple`: a tuple subclass with a tuple's layout and `len`
/// fields, which [`new_named_tuple`] can fill.
pub fn check_named_tuple(class: &Bound<'_, PyType>, len: usize) -> PyResult<()> {
    let py = class.py();
    let tuple = py.get_type::<pyo3::types::PyTuple>();
    let same = |name: &str| -> PyResult<bool> { class.getattr(name)?.eq(tuple.getattr(name)?) };
    let fields = class.getattr("_fields")?.len()?;
    if class.is_subclass(&tuple)?
        && same("__basicsize__")?
        && same("__itemsize__")?
        && class.getattr("__dictoffset__")?.extract::<isize>()? == 0
        && fields == len
    {
        Ok(())
    } else {
        Err(Error::BadModel("not a NamedTuple of the expected fields").into())
    }
}
