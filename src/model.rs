//! The Python side of the model, registered once by `init`: the classes, the `Status` members,
//! the interned field names, and the pure-Python functions the fast paths fall back to.

use std::sync::atomic::{AtomicU32, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PySet, PyString, PyType};

use crate::cpython::{self, type_version_tag, InstanceSlots};
use crate::errors::Error;
use iqm_runstatus_core::status::{PerStatus, StatusCode};
use iqm_runstatus_core::Field;

pub struct Model {
    pub run_status: Py<PyType>,
    pub status_enum: Py<PyType>,
    /// The `Status` member of each state.
    pub members: PerStatus<Py<PyAny>>,
    /// `"status"`, `"message"`, `"warnings"`, interned, indexed by [`Field`].
    pub keys: [Py<PyString>; 3],
    /// `{"status": member, "message": None, "warnings": None}` per state: copied for each
    /// instance, so its keys keep the field order `repr` and `model_dump` show.
    pub dict_templates: PerStatus<Py<PyDict>>,
    /// The possible `__pydantic_fields_set__` values, indexed by `message given + 2 × warnings
    /// given`: each instance gets a copy.
    pub fields_set_templates: [Py<PySet>; 4],
    /// `BaseModel`'s slots `__pydantic_fields_set__`, `__pydantic_extra__` and
    /// `__pydantic_private__`, written directly on new instances.
    pub slots: InstanceSlots<3>,
    /// `RunStatus.__pydantic_validator__` when `init` ran: another one means the model was
    /// changed and rebuilt (a new config or field), and pydantic's own validation applies.
    pub validator: Py<PyAny>,
    /// `"__pydantic_validator__"`, interned.
    validator_name: Py<PyString>,
    /// `RunStatus`'s type version tag when its validator was last found unchanged (0: never).
    /// CPython gives a class a new tag whenever one of its attributes, or a base's, is set.
    checked_at_version: AtomicU32,
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

    /// Whether `RunStatus` still validates as it did when `init` ran, so the fast paths give
    /// pydantic's answer. The class's type version tag answers at once while nothing was set
    /// on it; otherwise its validator is looked up again.
    pub fn is_current(&self, py: Python<'_>) -> bool {
        let version = type_version_tag(self.run_status.bind(py));
        if version != 0 && version == self.checked_at_version.load(Ordering::Relaxed) {
            return true;
        }
        let current = self.validator_unchanged();
        if current {
            self.checked_at_version.store(version, Ordering::Relaxed);
        }
        current
    }

    /// Reads the class's own attribute without its metaclass's hooks; any failure counts as
    /// changed.
    fn validator_unchanged(&self) -> bool {
        // SAFETY: both pointers are live objects; the result is an owned reference or NULL
        // with an error set, which is cleared.
        unsafe {
            let found = ffi::PyObject_GenericGetAttr(
                self.run_status.as_ptr(),
                self.validator_name.as_ptr(),
            );
            if found.is_null() {
                ffi::PyErr_Clear();
                return false;
            }
            let current = found == self.validator.as_ptr();
            ffi::Py_DECREF(found);
            current
        }
    }

    pub fn member(&self, status: StatusCode) -> &Py<PyAny> {
        self.members.get(status)
    }

    pub fn dict_template(&self, status: StatusCode) -> &Py<PyDict> {
        self.dict_templates.get(status)
    }

    pub fn fields_set_template(&self, message: bool, warnings: bool) -> &Py<PySet> {
        match (message, warnings) {
            (false, false) => &self.fields_set_templates[0],
            (true, false) => &self.fields_set_templates[1],
            (false, true) => &self.fields_set_templates[2],
            (true, true) => &self.fields_set_templates[3],
        }
    }

    pub fn key(&self, field: Field) -> &Py<PyString> {
        match field {
            Field::Status => &self.keys[0],
            Field::Message => &self.keys[1],
            Field::Warnings => &self.keys[2],
        }
    }

    /// `{Status member: count}` for every member, in enum order, from one status code per
    /// entry (codes that are no status, such as an invalid entry's, are not counted).
    pub fn status_counts<'py>(
        &self,
        py: Python<'py>,
        codes: impl IntoIterator<Item = u8>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut counts = [0usize; 5];
        for code in codes {
            if let Some(count) = counts.get_mut(usize::from(code)) {
                *count += 1;
            }
        }
        let dict = PyDict::new(py);
        for ((_, member), count) in self.members.iter().zip(counts) {
            dict.set_item(member, count)?;
        }
        Ok(dict)
    }

    /// The code of `value` if it is one of the `Status` members itself.
    pub fn code_of_member(&self, value: &Bound<'_, PyAny>) -> Option<StatusCode> {
        self.members
            .iter()
            .find(|(_, member)| member.as_ptr() == value.as_ptr())
            .map(|(code, _)| code)
    }
}

/// Makes attribute lookups on the model class as cheap as on a plain class; see
/// [`cpython::speed_up_class_lookups`]. Returns whether this build could.
#[pyfunction]
pub fn speed_up_class_lookups(metaclass: &Bound<'_, PyType>) -> PyResult<bool> {
    cpython::speed_up_class_lookups(metaclass)
}

/// Whether `speed_up_class_lookups` is in effect for `metaclass`.
#[pyfunction]
pub fn class_lookups_are_fast(metaclass: &Bound<'_, PyType>) -> bool {
    cpython::class_lookups_are_fast(metaclass)
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
    let members = PerStatus::try_new(member)?;
    if status_enum.len()? != StatusCode::ALL.len() {
        return Err(Error::BadModel("Status must have exactly the five known members").into());
    }
    let keys = [Field::Status, Field::Message, Field::Warnings]
        .map(|field| PyString::intern(py, field.name()).unbind());
    let dict_template = |code: StatusCode| -> PyResult<Py<PyDict>> {
        let dict = PyDict::new(py);
        let [status, message, warnings] = &keys;
        dict.set_item(status, status_enum.call1((code.value(),))?)?;
        dict.set_item(message, py.None())?;
        dict.set_item(warnings, py.None())?;
        Ok(dict.unbind())
    };
    let dict_templates = PerStatus::try_new(dict_template)?;
    let fields_set_template = |message: bool, warnings: bool| -> PyResult<Py<PySet>> {
        let [status_key, message_key, warnings_key] = &keys;
        let set = PySet::new(py, [status_key])?;
        if message {
            set.add(message_key)?;
        }
        if warnings {
            set.add(warnings_key)?;
        }
        Ok(set.unbind())
    };
    let fields_set_templates = [
        fields_set_template(false, false)?,
        fields_set_template(true, false)?,
        fields_set_template(false, true)?,
        fields_set_template(true, true)?,
    ];
    let slots = InstanceSlots::of(
        &run_status,
        [
            "__pydantic_fields_set__",
            "__pydantic_extra__",
            "__pydantic_private__",
        ],
    )?;
    let validator_name = PyString::intern(py, "__pydantic_validator__");
    let validator = run_status.getattr(&validator_name)?.unbind();
    let model = Model {
        run_status: run_status.unbind(),
        status_enum: status_enum.unbind(),
        members,
        keys,
        dict_templates,
        fields_set_templates,
        slots,
        validator,
        validator_name: validator_name.unbind(),
        checked_at_version: AtomicU32::new(0),
        pure_from_dict,
        pure_from_json,
        pydantic_validate_python,
        pydantic_validate_json,
    };
    MODEL
        .set(py, model)
        .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("init() was already called"))
}
