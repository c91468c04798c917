//! The Python side of the model, registered once by `init`: the classes, the `Status` members,
//! the interned field names, and the pure-Python functions the fast paths fall back to.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PySet, PyString, PyType};

use crate::cpython::{self, type_version_tag, InstanceSlots};
use crate::errors::Error;
use iqm_runstatus_core::status::{PerStatus, StatusCode, Vocabulary};
use iqm_runstatus_core::Field;

pub struct Model {
    pub run_status: Py<PyType>,
    pub status_enum: Py<PyType>,
    /// The states: `Status`'s values in its order, and which are terminal.
    pub vocabulary: &'static Vocabulary,
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

/// The model's vocabulary, also for threads that run without the interpreter (the poller's).
static VOCABULARY: OnceLock<Vocabulary> = OnceLock::new();

/// The vocabulary `init` registered, if it ran.
pub fn vocabulary() -> Option<&'static Vocabulary> {
    VOCABULARY.get()
}

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

    /// The `Status` member of `status` (an error only for a code of no state of the model's
    /// vocabulary, which no parse gives).
    pub fn member(&self, status: StatusCode) -> Result<&Py<PyAny>, Error> {
        (self.members.get(status)).ok_or(Error::BadModel("a status code outside the vocabulary"))
    }

    #[inline(always)]
    pub fn dict_template(&self, status: StatusCode) -> Result<&Py<PyDict>, Error> {
        (self.dict_templates.get(status))
            .ok_or(Error::BadModel("a status code outside the vocabulary"))
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
        let mut counts = vec![0usize; self.members.len()];
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

/// The members of `status_enum` in its order, with their values (each an exact `str`), and
/// the vocabulary they make with `terminal` (a collection of members).
fn read_vocabulary<'py>(
    status_enum: &Bound<'py, PyType>,
    terminal: &Bound<'py, PyAny>,
) -> PyResult<(Vec<Bound<'py, PyAny>>, Vocabulary)> {
    let mut members = Vec::new();
    let mut values = Vec::new();
    for member in status_enum.try_iter()? {
        let member = member?;
        if !member.is_instance_of::<PyString>() {
            return Err(Error::BadModel("Status must be a (str, Enum)").into());
        }
        let value = member.getattr("value")?;
        let value = value
            .cast_exact::<PyString>()
            .map_err(|_| Error::BadModel("each Status member's value must be a str"))?;
        values.push(value.to_str()?.as_bytes().to_vec());
        members.push(member);
    }
    let mut is_terminal = vec![false; members.len()];
    for member in terminal.try_iter()? {
        let member = member?;
        let index = (members.iter().position(|known| known.is(&member))).ok_or(Error::BadModel(
            "each terminal status must be a Status member",
        ))?;
        if let Some(flag) = is_terminal.get_mut(index) {
            *flag = true;
        }
    }
    let mut terminal_flags = is_terminal.into_iter();
    let vocabulary = Vocabulary::new(&values, |_| terminal_flags.next().unwrap_or(false))
        .map_err(crate::errors::core_to_py)?;
    Ok((members, vocabulary))
}

/// Registers the model classes, the vocabulary (the members of `status_enum` in its order, and
/// `terminal`, a collection of them) and the fallbacks; called once, by `iqm_runstatus._model`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn init(
    py: Python<'_>,
    run_status: Bound<'_, PyType>,
    status_enum: Bound<'_, PyType>,
    terminal: Bound<'_, PyAny>,
    pure_from_dict: Py<PyAny>,
    pure_from_json: Py<PyAny>,
    pydantic_validate_python: Py<PyAny>,
    pydantic_validate_json: Py<PyAny>,
) -> PyResult<()> {
    if MODEL.get(py).is_some() {
        return Err(already_called());
    }
    let (status_members, vocabulary) = read_vocabulary(&status_enum, &terminal)?;
    let member = |code: StatusCode| -> PyResult<Py<PyAny>> {
        let member = status_members.get(code.index());
        Ok(member
            .ok_or(Error::BadModel("Status changed"))?
            .clone()
            .unbind())
    };
    let members = PerStatus::try_new(&vocabulary, member)?;
    let keys = [Field::Status, Field::Message, Field::Warnings]
        .map(|field| PyString::intern(py, field.name()).unbind());
    let dict_template = |code: StatusCode| -> PyResult<Py<PyDict>> {
        let dict = PyDict::new(py);
        let [status, message, warnings] = &keys;
        dict.set_item(status, member(code)?)?;
        dict.set_item(message, py.None())?;
        dict.set_item(warnings, py.None())?;
        Ok(dict.unbind())
    };
    let dict_templates = PerStatus::try_new(&vocabulary, dict_template)?;
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
    // Nothing between here and the model's registration runs Python code, so the two are set
    // together.
    VOCABULARY.set(vocabulary).map_err(|_| already_called())?;
    let vocabulary = VOCABULARY.get().ok_or_else(already_called)?;
    let model = Model {
        run_status: run_status.unbind(),
        status_enum: status_enum.unbind(),
        vocabulary,
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
    MODEL.set(py, model).map_err(|_| already_called())
}

fn already_called() -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err("init() was already called")
}
