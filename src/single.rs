//! The single-payload entry points behind `RunStatus.from_json`, `from_dict`,
//! `model_validate_json` and `model_validate`.
//!
//! Each builds the instance in Rust when the input has a form whose result is certain, and
//! otherwise calls the pure-Python function registered by `init`, so the answer (or the
//! exception) is always the reference's own.

use pyo3::prelude::*;

use crate::errors::Error;
use crate::input::{read_dict, with_json_bytes, Accept};
use crate::instances::{
    new_list_of, new_run_status, new_str, new_str_list, new_str_trusting_ascii, FieldValue,
};
use crate::model::Model;
use iqm_runstatus_core::parse::{
    parse_with_serde, scan_status_into, ParsedStatus, ScanSink, ScannedDocument, ScannedList,
};

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

/// Builds the Python strings of a document while the scanner reads it, so the items of a
/// `warnings` list are read once and each list is made at its exact size.
struct PyStrings<'py> {
    py: Python<'py>,
    /// Why a string or list could not be made (the document is then refused).
    error: Option<PyErr>,
}

impl<'py> PyStrings<'py> {
    fn keep<T>(&mut self, made: PyResult<T>) -> Option<T> {
        made.map_err(|err| self.error = Some(err)).ok()
    }
}

impl<'a, 'py> ScanSink<'a> for PyStrings<'py> {
    type Text = Bound<'py, PyAny>;
    type List = Bound<'py, PyAny>;
    const KEEPS_ITEMS: bool = true;

    fn text(&mut self, text: &'a str, ascii: bool) -> Option<Self::Text> {
        // SAFETY: the scanner tells `ascii` from the bytes it read.
        let made = unsafe { new_str_trusting_ascii(self.py, text, ascii) };
        self.keep(made)
    }

    fn list(&mut self, list: ScannedList<'a, '_>) -> Option<Self::List> {
        let py = self.py;
        let made = match list.items {
            // SAFETY: the scanner sets `ascii` only when every item is ASCII.
            Some(items) => new_list_of(py, items.iter(), |item| unsafe {
                new_str_trusting_ascii(py, item, list.ascii)
            }),
            None => new_str_list(py, list.as_span().iter()),
        };
        self.keep(made)
    }
}

/// The instance for one JSON document: the scanner builds it in one pass; anything else
/// goes through serde_json; `Err(_)` (as `parse_status`'s) when neither is certain.
fn run_status_from_json<'py>(
    py: Python<'py>,
    model: &Model,
    bytes: &[u8],
) -> Result<PyResult<Bound<'py, PyAny>>, Error> {
    let mut strings = PyStrings { py, error: None };
    if let Some(document) = scan_status_into(model.vocabulary, bytes, &mut strings) {
        let ScannedDocument {
            status,
            message,
            warnings,
        } = document;
        return Ok(new_run_status(py, model, status, message, warnings));
    }
    if let Some(error) = strings.error {
        return Ok(Err(error));
    }
    parse_with_serde(model.vocabulary, bytes)
        .map_err(Error::Core)
        .map(|parsed| run_status_from_parsed(py, model, &parsed))
}

fn json_entry<'py>(
    raw: &Bound<'py, PyAny>,
    accept: Accept,
    fallback: impl FnOnce(&Model) -> &Py<PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = raw.py();
    let model = Model::get(py)?;
    if !model.is_current(py) {
        return fallback(model).bind(py).call1((raw,));
    }
    let built = with_json_bytes(raw, accept, |bytes| run_status_from_json(py, model, bytes));
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
    if !model.is_current(py) {
        return fallback(model).bind(py).call1((inp,));
    }
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
