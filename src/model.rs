//! The Python side of the model, registered once by `init`: the classes, the `Status` members,
//! the interned field names, and the pure-Python functions the fast paths fall back to.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyType};

use crate::error::{Error, Field};
use crate::status::StatusCode;

pub struct Model {
    pub run_status: Py<PyType>,
    pub status_enum: Py<PyType>,
    /// `Status` members indexed by [`StatusCode`].
    pub members: [Py<PyAny>; 5],
    /// `"status"`, `"message"`, `"warnings"`, interned, indexed by [`Field`].
    pub keys: [Py<PyString>; 3],
    /// `{"status": None, "message": None, "warnings": None}`: copied for each instance, so its
    /// keys keep the field order that `repr` and `model_dump` show.
    pub dict_template: Py<PyDict>,
    /// The member descriptors of `BaseModel`'s slots, set directly on new instances.
    pub fields_set_slot: Py<PyAny>,
    pub extra_slot: Py<PyAny>,
    pub private_slot: Py<PyAny>,
    pub pure_from_dict: Py<PyAny>,
    pub pure_from_json: Py<PyAny>,
    pub pydantic_validate_python: Py<PyAny>,
    pub pydantic_validate_json: Py<PyAny>,
}

static MODEL: PyOnceLock<Model> = PyOnceLock::new();

impl Model {
    pub fn get(py: Python<'_>) -> Result<&Model, Error> {
        MODEL.get(py).ok_or(Error::NotInitialised)
    }

    pub fn member(&self, status: StatusCode) -> &Py<PyAny> {
        match status {
            StatusCode::PendingCompilation => &self.members[0],
            StatusCode::PendingExecution => &self.members[1],
            StatusCode::Ready => &self.members[2],
            StatusCode::Failed => &self.members[3],
            StatusCode::Aborted => &self.members[4],
        }
    }

    pub fn key(&self, field: Field) -> &Py<PyString> {
        match field {
            Field::Status => &self.keys[0],
            Field::Message => &self.keys[1],
            Field::Warnings => &self.keys[2],
        }
    }

    /// The code of `value` if it is one of the `Status` members itself.
    pub fn code_of_member(&self, value: &Bound<'_, PyAny>) -> Option<StatusCode> {
        StatusCode::ALL
            .into_iter()
            .find(|&code| self.member(code).as_ptr() == value.as_ptr())
    }
}

fn slot_descriptor(py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
    let base_model = py.import("pydantic")?.getattr("BaseModel")?;
    let descriptor = base_model.getattr("__dict__")?.get_item(name)?;
    if descriptor.get_type().name()?.to_str()? != "member_descriptor" {
        return Err(Error::BadModel("BaseModel's slots are not member descriptors").into());
    }
    Ok(descriptor.unbind())
}

/// Registers the model classes and the fallbacks; called once, by `iqm_runstatus._model`.
#[pyfunction]
pub fn init(
    py: Python<'_>,
    run_status: Bound<'_, PyType>,
    status_enum: Bound<'_, PyType>,
    pure_from_dict: Py<PyAny>,
    pure_from_json: Py<PyAny>,
    pydantic_validate_python: Py<PyAny>,
    pydantic_validate_json: Py<PyAny>,
) -> PyResult<()> {
    let member = |code: StatusCode| -> PyResult<Py<PyAny>> {
        let member = status_enum.call1((code.value(),))?;
        if !member.is_instance_of::<PyString>() {
            return Err(Error::BadModel("Status must be a (str, Enum)").into());
        }
        Ok(member.unbind())
    };
    let members = [
        member(StatusCode::PendingCompilation)?,
        member(StatusCode::PendingExecution)?,
        member(StatusCode::Ready)?,
        member(StatusCode::Failed)?,
        member(StatusCode::Aborted)?,
    ];
    if status_enum.len()? != members.len() {
        return Err(Error::BadModel("Status must have exactly the five known members").into());
    }
    let keys = [Field::Status, Field::Message, Field::Warnings]
        .map(|field| PyString::intern(py, field.name()).unbind());
    let dict_template = PyDict::new(py);
    for key in &keys {
        dict_template.set_item(key, py.None())?;
    }
    let model = Model {
        run_status: run_status.unbind(),
        status_enum: status_enum.unbind(),
        members,
        keys,
        dict_template: dict_template.unbind(),
        fields_set_slot: slot_descriptor(py, "__pydantic_fields_set__")?,
        extra_slot: slot_descriptor(py, "__pydantic_extra__")?,
        private_slot: slot_descriptor(py, "__pydantic_private__")?,
        pure_from_dict,
        pure_from_json,
        pydantic_validate_python,
        pydantic_validate_json,
    };
    MODEL
        .set(py, model)
        .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("init() was already called"))
}
