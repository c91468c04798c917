//! The single-payload entry points as `METH_O` C functions.
//!
//! A `#[pyfunction]` goes through PyO3's generic argument parsing, which cost about a tenth of
//! a whole `from_json` call; these take their one argument directly. A panic (there should be
//! none: the crate denies the lints that lead to them) becomes a `SystemError`, never an abort.

use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PySystemError;
use pyo3::ffi;
use pyo3::prelude::*;

use crate::single;

type Entry = for<'py> fn(&Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>>;

fn call(arg: *mut ffi::PyObject, entry: Entry) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a METH_O function attached to the interpreter, with one borrowed,
    // non-null argument that outlives the call.
    let py = unsafe { Python::assume_attached() };
    let arg = unsafe { Bound::from_borrowed_ptr(py, arg) };
    let result = catch_unwind(AssertUnwindSafe(|| entry(&arg))).unwrap_or_else(|_| {
        Err(PySystemError::new_err(
            "iqm_runstatus: internal error while parsing",
        ))
    });
    match result {
        Ok(object) => object.into_ptr(),
        Err(err) => {
            err.restore(py);
            std::ptr::null_mut()
        }
    }
}

macro_rules! meth_o {
    ($name:ident, $entry:path) => {
        unsafe extern "C" fn $name(
            _module: *mut ffi::PyObject,
            arg: *mut ffi::PyObject,
        ) -> *mut ffi::PyObject {
            call(arg, $entry)
        }
    };
}

meth_o!(from_json, single::from_json);
meth_o!(from_dict, single::from_dict);
meth_o!(validate_json, single::validate_json);
meth_o!(validate_python, single::validate_python);

const FROM_JSON_DOC: &CStr = c"from_json(raw, /)
--

Parses a job status from raw JSON: ``from_dict(json.loads(raw))``, done in Rust.

Args:
    raw: the JSON document, as ``bytes``, ``bytearray``, ``memoryview`` or ``str``

Returns:
    parsed job status

Raises:
    json.JSONDecodeError: malformed JSON
    TypeError: the top-level JSON value is not an object
    KeyError: ``status`` is missing
    ValueError: ``status`` is not one of the known values
    pydantic.ValidationError: ``message`` or ``warnings`` has the wrong type";

const FROM_DICT_DOC: &CStr = c"from_dict(inp, /)
--

Parses the result from a dict.

Args:
    inp: value to parse, has to map to RunResult

Returns:
    parsed job status";

const VALIDATE_JSON_DOC: &CStr = c"validate_json(json_data, /)
--

``RunStatus.model_validate_json(json_data)`` with no options, accelerated.";

const VALIDATE_PYTHON_DOC: &CStr = c"validate_python(obj, /)
--

``RunStatus.model_validate(obj)`` with no options, accelerated.";

/// Adds the entry points to the module.
pub fn add_functions(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let functions: [(&'static CStr, ffi::PyCFunction, &'static CStr); 4] = [
        (c"from_json", from_json, FROM_JSON_DOC),
        (c"from_dict", from_dict, FROM_DICT_DOC),
        (c"validate_json", validate_json, VALIDATE_JSON_DOC),
        (c"validate_python", validate_python, VALIDATE_PYTHON_DOC),
    ];
    let module_name = module.name()?;
    for (name, function, doc) in functions {
        // CPython keeps a pointer to the definition for the function's lifetime: the module
        // initialises once per process, so these few definitions are leaked on purpose.
        let definition = Box::leak(Box::new(ffi::PyMethodDef {
            ml_name: name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunction: function,
            },
            ml_flags: ffi::METH_O,
            ml_doc: doc.as_ptr(),
        }));
        // SAFETY: the definition lives forever; the result is an owned reference or NULL.
        let function = unsafe {
            Bound::from_owned_ptr_or_err(
                module.py(),
                ffi::PyCFunction_NewEx(definition, std::ptr::null_mut(), module_name.as_ptr()),
            )?
        };
        module.add(&*name.to_string_lossy(), function)?;
    }
    Ok(())
}
