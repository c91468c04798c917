//! The single-payload entry points behind `RunStatus.from_json`, `from_dict`,
//! `model_validate_json` and `model_validate`.
//!
//! Each builds the instance in Rust when the input has a form whose result is certain, and
//! otherwise calls the pure-Python function registered by `init`, so the answer (or the
//! exception) is always the reference's own.

use pyo3::prelude::*;

use crate::input::{read_dict, with_json_bytes, Accept};
use crate::model::Model;
use crate::objects::{new_run_status, new_str, new_str_list, FieldValue};
use crate::parse::{parse_status, ParsedStatus};

/// The instance for a parsed document.
pub fn run_status_from_parsed<'py>(
    py: Python<'py>,
    model: &Model,
    parsed: &ParsedStatus<'_>,
) -> PyResult<Bound<'py, PyAny>> {
    let message: FieldValue<'py> = parsed.message.try_map(|text| new_str(py, text))?;
    let warnings: FieldValue<'py> = parsed
        .warnings
        .try_map(|items| new_str_list(py, items.iter()))?;
    new_run_status(py, model, parsed.status, message, warnings)
}

fn json_entry<'py>(
    raw: &Bound<'py, PyAny>,
    accept: Accept,
    fallback: impl FnOnce(&Model) -> &Py<PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = raw.py();
    let model = Model::get(py)?;
    let built = with_json_bytes(raw, accept, |bytes| {
        parse_status(bytes).map(|parsed| run_status_from_parsed(py, model, &parsed))
    });
    match built {
        Ok(Ok(result)) => result,
        _ => fallback(model).bind(py).call1((raw,)),
    }
}

fn dict_entry<'py>(
    inp: &Bound<'py, PyAny>,
    fallback: impl FnOnce(&Model) -> &Py<PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = inp.py();
    let model = Model::get(py)?;
    match read_dict(model, inp) {
        Ok(fields) => new_run_status(py, model, fields.status, fields.message, fields.warnings),
        Err(_) => fallback(model).bind(py).call1((inp,)),
    }
}

/// `RunStatus.from_json`: see its docstring in `fastcall`.
pub fn from_json<'py>(raw: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    json_entry(raw, Accept::AnyBuffer, |model| &model.pure_from_json)
}

/// `RunStatus.from_dict`, with the reference's `from_dict` as the fallback.
pub fn from_dict<'py>(inp: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    dict_entry(inp, |model| &model.pure_from_dict)
}

/// ``RunStatus.model_validate_json(json_data)`` with no options, accelerated.
pub fn validate_json<'py>(json_data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    json_entry(json_data, Accept::BytesOrStr, |model| {
        &model.pydantic_validate_json
    })
}

/// ``RunStatus.model_validate(obj)`` with no options, accelerated.
pub fn validate_python<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    dict_entry(obj, |model| &model.pydantic_validate_python)
}
