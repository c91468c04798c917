//! The single-payload entry points as `METH_FASTCALL` C functions of one argument.
//!
//! A `#[pyfunction]` goes through PyO3's generic argument parsing, which cost about a tenth of
//! a whole `from_json` call; these take their one argument directly, by position or by name
//! (the reference's `from_dict(inp=...)` works). A panic (there should be
//! none: the crate denies the lints that lead to them) becomes a `SystemError`, never an abort.

use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PySystemError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;

use crate::single;

type Entry = for<'py> fn(&Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>>;

/// The one argument, given by position or as the keyword `parameter`.
///
/// # Safety
/// `args` holds `nargs` positional arguments followed by one per name in `kwnames` (a tuple or
/// NULL), all borrowed for the call, as CPython passes them to a `METH_FASTCALL` function.
unsafe fn single_argument<'py>(
    py: Python<'py>,
    function: &str,
    parameter: &str,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<Bound<'py, PyAny>> {
    // Keeps the bit pattern: the offset flag CPython may set is masked off by NARGS.
    let positional = ffi::PyVectorcall_NARGS(nargs as usize);
    let keywords = if kwnames.is_null() {
        0
    } else {
        ffi::PyTuple_GET_SIZE(kwnames)
    };
    match (positional, keywords) {
        (1, 0) => Ok(Bound::from_borrowed_ptr(py, *args)),
        (0, 1) => {
            let name = Bound::from_borrowed_ptr(py, ffi::PyTuple_GET_ITEM(kwnames, 0));
            if name.eq(parameter)? {
                Ok(Bound::from_borrowed_ptr(py, *args))
            } else {
                Err(PyTypeError::new_err(format!(
                    "{function}() got an unexpected keyword argument '{name}'"
                )))
            }
        }
        (0, 0) => Err(PyTypeError::new_err(format!(
            "{function}() missing 1 required positional argument: '{parameter}'"
        ))),
        _ => Err(PyTypeError::new_err(format!(
            "{function}() takes exactly one argument ({} given)",
            positional + keywords
        ))),
    }
}

fn call(
    function: &str,
    parameter: &str,
    entry: Entry,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a METH_FASTCALL function attached to the interpreter, with the
    // arguments laid out as `single_argument` requires.
    let py = unsafe { Python::assume_attached() };
    let result = catch_unwind(AssertUnwindSafe(|| {
        let arg = unsafe { single_argument(py, function, parameter, args, nargs, kwnames)? };
        entry(&arg)
    }))
    .unwrap_or_else(|_| {
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

macro_rules! entry_point {
    ($name:ident($parameter:literal) => $entry:path) => {
        unsafe extern "C" fn $name(
            _module: *mut ffi::PyObject,
            args: *const *mut ffi::PyObject,
            nargs: ffi::Py_ssize_t,
            kwnames: *mut ffi::PyObject,
        ) -> *mut ffi::PyObject {
            call(stringify!($name), $parameter, $entry, args, nargs, kwnames)
        }
    };
}

entry_point!(from_json("raw") => single::from_json);
entry_point!(from_dict("inp") => single::from_dict);
entry_point!(validate_json("json_data") => single::validate_json);
entry_point!(validate_python("obj") => single::validate_python);

const FROM_JSON_DOC: &CStr = c"from_json(raw)
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

const FROM_DICT_DOC: &CStr = c"from_dict(inp)
--

Parses the result from a dict.

Args:
    inp: value to parse, has to map to RunResult

Returns:
    parsed job status";

const VALIDATE_JSON_DOC: &CStr = c"validate_json(json_data)
--

``RunStatus.model_validate_json(json_data)`` with no options, accelerated.";

const VALIDATE_PYTHON_DOC: &CStr = c"validate_python(obj)
--

``RunStatus.model_validate(obj)`` with no options, accelerated.";

/// Adds the entry points to the module.
pub fn add_functions(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let functions: [(
        &'static CStr,
        ffi::PyCFunctionFastWithKeywords,
        &'static CStr,
    ); 4] = [
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
                PyCFunctionFastWithKeywords: function,
            },
            ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
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
