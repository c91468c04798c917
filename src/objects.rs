//! Building `RunStatus` instances directly, without running pydantic validation.
//!
//! An instance is laid out exactly as pydantic leaves a validated one: a `__dict__` with the
//! three fields in declaration order, `__pydantic_fields_set__` holding the names given,
//! and `__pydantic_extra__` and `__pydantic_private__` set to `None`.

use std::os::raw::c_char;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use crate::error::Field;
use crate::model::Model;
use crate::parse::Slot;
use crate::status::StatusCode;

/// A field value ready to be stored: absent (left at the default, not in the fields set),
/// `None`, or an object.
pub type FieldValue<'py> = Slot<Bound<'py, PyAny>>;

/// A new `str` from UTF-8 the parser has already validated.
pub fn new_str<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    let Ok(len) = ffi::Py_ssize_t::try_from(text.len()) else {
        return Err(pyo3::exceptions::PyOverflowError::new_err("string too long"));
    };
    // SAFETY: the pointer and length describe a live `&str`; the result is an owned reference.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_FromStringAndSize(text.as_ptr().cast::<c_char>(), len),
        )
    }
}

/// A new `list` of `str`.
pub fn new_str_list<'py, S: AsRef<str>>(
    py: Python<'py>,
    items: &[S],
) -> PyResult<Bound<'py, PyAny>> {
    let list = PyList::empty(py);
    for item in items {
        list.append(new_str(py, item.as_ref())?)?;
    }
    Ok(list.into_any())
}

fn set_slot(descriptor: &Py<PyAny>, instance: *mut ffi::PyObject, value: *mut ffi::PyObject) -> i32 {
    // SAFETY: `descriptor` is one of BaseModel's member descriptors (checked by `init`) and
    // `instance` a live RunStatus, so the descriptor's setter applies; it increfs `value`.
    unsafe {
        let descriptor = descriptor.as_ptr();
        match (*ffi::Py_TYPE(descriptor)).tp_descr_set {
            Some(set) => set(descriptor, instance, value),
            None => -1,
        }
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
    let keys = |field| model.key(field).bind(py);
    let dict = model.dict_template.bind(py).copy()?;
    dict.set_item(keys(Field::Status), model.member(status).bind(py))?;
    let fields_set = pyo3::types::PySet::empty(py)?;
    fields_set.add(keys(Field::Status))?;
    for (field, value) in [(Field::Message, message), (Field::Warnings, warnings)] {
        match value {
            Slot::Absent => continue,
            Slot::Null => {}
            Slot::Value(value) => dict.set_item(keys(field), value)?,
        }
        fields_set.add(keys(field))?;
    }
    let none = py.None();
    // SAFETY: `run_status` is a heap type whose instances are allocated by the generic
    // allocator (BaseModel has no `__new__`); the new object is owned by `instance`.
    unsafe {
        let class = model.run_status.as_ptr().cast::<ffi::PyTypeObject>();
        let instance = Bound::from_owned_ptr_or_err(py, ffi::PyType_GenericAlloc(class, 0))?;
        let raw = instance.as_ptr();
        if ffi::PyObject_GenericSetDict(raw, dict.as_ptr(), std::ptr::null_mut()) != 0
            || set_slot(&model.fields_set_slot, raw, fields_set.as_ptr()) != 0
            || set_slot(&model.extra_slot, raw, none.as_ptr()) != 0
            || set_slot(&model.private_slot, raw, none.as_ptr()) != 0
        {
            return Err(PyErr::fetch(py));
        }
        Ok(instance)
    }
}

/// Whether `object` is exactly a `str` (not a subclass): only those pass through unchanged.
pub fn is_exact_str(object: &Bound<'_, PyAny>) -> bool {
    object.is_exact_instance_of::<PyString>()
}
