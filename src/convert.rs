//! Between stored entries and `RunStatus` objects, for batches and the tracker alike: building
//! an instance from an entry, reading one back, comparing them as pydantic does, and the
//! collector pause that many new instances need.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyModule, PySet, PyTuple};

use crate::errors::Error;
use crate::instances::{new_run_status, new_str_surrogatepass, FieldValue};
use crate::model::Model;
use iqm_runstatus_core::columns::{Entry, OwnedEntry};
use iqm_runstatus_core::parse::Presence;
use iqm_runstatus_core::Field;

/// Pauses the cyclic garbage collector while many instances are built, and restores it.
///
/// The instances cannot form cycles, yet each 700 allocations would start a collection that
/// walks the growing list again, which would dominate the cost of `to_list`. The GIL is held
/// throughout, so no other thread runs while the collector is off.
pub struct GcPause<'py> {
    gc: Option<Bound<'py, PyModule>>,
}

impl<'py> GcPause<'py> {
    pub fn new(py: Python<'py>) -> PyResult<GcPause<'py>> {
        let gc = py.import("gc")?;
        if !gc.call_method0("isenabled")?.is_truthy()? {
            return Ok(GcPause { gc: None });
        }
        gc.call_method0("disable")?;
        Ok(GcPause { gc: Some(gc) })
    }
}

impl Drop for GcPause<'_> {
    fn drop(&mut self) {
        if let Some(gc) = &self.gc {
            // Enabling cannot fail short of interpreter shutdown; nothing to do then.
            let _ = gc.call_method0("enable");
        }
    }
}

/// The `RunStatus` for one stored entry.
pub fn run_status_from_entry<'py>(
    py: Python<'py>,
    model: &Model,
    entry: &Entry<'_>,
) -> PyResult<Bound<'py, PyAny>> {
    let message: FieldValue<'py> = entry
        .message
        .try_map(|text| new_str_surrogatepass(py, text))?;
    let warnings: FieldValue<'py> = entry.warnings.try_map(|items| {
        let list = PyList::empty(py);
        for item in items {
            list.append(new_str_surrogatepass(py, item)?)?;
        }
        Ok::<_, PyErr>(list.into_any())
    })?;
    new_run_status(py, model, entry.status, message, warnings)
}

fn encode_str(text: &Bound<'_, PyAny>) -> PyResult<Box<[u8]>> {
    let encoded = text.call_method1("encode", ("utf-8", "surrogatepass"))?;
    Ok(Box::from(encoded.cast_into::<PyBytes>()?.as_bytes()))
}

/// The fields of a `RunStatus` the pure path returned, as an entry.
pub fn entry_from_run_status(model: &Model, result: &Bound<'_, PyAny>) -> PyResult<OwnedEntry> {
    let status = model
        .code_of_member(&result.getattr("status")?)
        .ok_or(Error::BadModel(
            "the pure path returned a status that is not a member",
        ))?;
    let fields_set = result.getattr("model_fields_set")?;
    let fields_set = fields_set.cast::<PySet>()?;
    let slot = |field: Field| -> PyResult<Presence<Bound<'_, PyAny>>> {
        let value = result.getattr(field.name())?;
        Ok(if !value.is_none() {
            Presence::Value(value)
        } else if fields_set.contains(field.name())? {
            Presence::Null
        } else {
            Presence::Absent
        })
    };
    let message = match slot(Field::Message)? {
        Presence::Absent => Presence::Absent,
        Presence::Null => Presence::Null,
        Presence::Value(text) => Presence::Value(encode_str(&text)?),
    };
    let warnings = match slot(Field::Warnings)? {
        Presence::Absent => Presence::Absent,
        Presence::Null => Presence::Null,
        Presence::Value(items) => Presence::Value(
            items
                .try_iter()?
                .map(|item| encode_str(&item?))
                .collect::<PyResult<Vec<_>>>()?,
        ),
    };
    Ok(OwnedEntry {
        status,
        message,
        warnings,
    })
}

/// Whether two entries build equal `RunStatus` objects: pydantic compares the field values,
/// so an absent field equals an explicit null.
pub fn same_values(a: &Entry<'_>, b: &Entry<'_>) -> bool {
    a.status == b.status
        && field_value(&a.message) == field_value(&b.message)
        && field_value(&a.warnings) == field_value(&b.warnings)
}

/// [`same_values`] for an owned entry, without borrowing it whole.
pub fn same_values_owned(a: &OwnedEntry, b: &Entry<'_>) -> bool {
    let warnings = match (field_value(&a.warnings), field_value(&b.warnings)) {
        (Some(mine), Some(theirs)) => {
            mine.len() == theirs.len() && mine.iter().zip(theirs).all(|(x, y)| **x == **y)
        }
        (mine, theirs) => mine.is_none() && theirs.is_none(),
    };
    a.status == b.status
        && field_value(&a.message).map(|text| &**text) == field_value(&b.message).copied()
        && warnings
}

/// A field's value as the model holds it: `None` when absent or null.
fn field_value<T>(presence: &Presence<T>) -> Option<&T> {
    match presence {
        Presence::Value(value) => Some(value),
        Presence::Absent | Presence::Null => None,
    }
}

/// Which states `statuses` (members or their values) name, as a flag per status code; no
/// status at all means every one.
pub fn status_mask(py: Python<'_>, statuses: &Bound<'_, PyTuple>) -> PyResult<Vec<bool>> {
    let model = Model::get(py)?;
    let mut wanted = vec![statuses.is_empty(); model.vocabulary.len()];
    for status in statuses {
        // Status(value) accepts a member or its value, and raises ValueError otherwise.
        let member = model.status_enum.bind(py).call1((status,))?;
        let code = model
            .code_of_member(&member)
            .ok_or(Error::BadModel("Status returned a non-member"))?;
        if let Some(flag) = wanted.get_mut(code.index()) {
            *flag = true;
        }
    }
    Ok(wanted)
}
