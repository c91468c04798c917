//! The one module that reads or writes CPython internals: the layout of `str` objects, member
//! descriptors and the slots of an instance. The rest of the crate uses PyO3 and the public C
//! API only, so a new CPython release can break this file and no other.
//!
//! Each operation has two routes with the same results:
//!
//! - `layout`, built for the CPython versions this file was written and tested against (3.9 to
//!   3.13, with the GIL, not the stable ABI). It reads and writes the structures directly. Where
//!   they differ between those versions there is a `cfg` branch, and compile-time checks of the
//!   sizes it relies on make a build whose layout differs fail to compile instead of running.
//! - `portable`, built for every other interpreter: public C-API calls only, a little slower.
//!
//! [`ROUTE`] tells which one a build has; the tests check that every supported version builds
//! the layout route, and the unit tests below that the two routes agree.

use std::ffi::CStr;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};

use crate::errors::Error;

#[cfg(all(
    not(Py_3_14),
    not(Py_LIMITED_API),
    not(Py_GIL_DISABLED),
    not(PyPy),
    not(GraalPy)
))]
use layout as route;
#[cfg(not(all(
    not(Py_3_14),
    not(Py_LIMITED_API),
    not(Py_GIL_DISABLED),
    not(PyPy),
    not(GraalPy)
)))]
use portable as route;

/// `"layout"` or `"portable"`: the route this build takes (exposed to Python as
/// `_core.CPYTHON_ROUTE`).
pub const ROUTE: &str = route::NAME;

/// The `major.minor` version of the Python this module was compiled for.
pub const BUILT_FOR: &str = env!("IQM_RUNSTATUS_BUILT_FOR");

/// Refuses, with an `ImportError`, an interpreter other than the one the module was compiled
/// for. CPython picks an extension by its file name alone, so a build copied under another
/// version's name would load, and the layout route would then read structures laid out for
/// another version.
pub fn check_interpreter(py: Python<'_>) -> PyResult<()> {
    let version = py.version_info();
    let running = format!("{}.{}", version.major, version.minor);
    if running != BUILT_FOR {
        return Err(pyo3::exceptions::PyImportError::new_err(format!(
            "iqm_runstatus._core was built for Python {BUILT_FOR} and cannot run on Python {running}"
        )));
    }
    Ok(())
}

/// A new `str` holding `text`.
///
/// # Safety
/// `text` must be ASCII: the layout route copies it in as one byte per character.
pub unsafe fn new_ascii_str<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: the caller's guarantee.
    unsafe { route::new_ascii_str(py, text) }
}

/// What a `str` is, compared with a few ASCII names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameMatch {
    /// Equal to the name at this index.
    Name(usize),
    /// Equal to none of them.
    Other,
    /// A `str` subclass, or (before 3.12) a legacy string that is not ready: the pure path
    /// must read it.
    UsePurePath,
}

/// Which of `names` the exact `str` `text` equals, without creating any object.
pub fn match_ascii_name(text: &Bound<'_, PyString>, names: &[&CStr]) -> NameMatch {
    if !text.is_exact_instance_of::<PyString>() {
        return NameMatch::UsePurePath;
    }
    route::match_ascii_name(text, names)
}

/// Where the `__slots__` of a class are written in a new instance: found once, when the model
/// is registered.
pub struct InstanceSlots<const N: usize>(route::Slots<N>);

impl<const N: usize> InstanceSlots<N> {
    /// The slots `names` of `class`, each checked to be a plain writable object slot.
    pub fn of(class: &Bound<'_, PyType>, names: [&str; N]) -> PyResult<Self> {
        route::Slots::of(class, names).map(Self)
    }

    /// Stores `values` in the slots of `instance`, one new reference each.
    ///
    /// # Safety
    /// `instance` must be a new instance of the class the slots were found on (as
    /// `PyType_GenericAlloc` returns it: every slot still NULL), not yet seen by other code.
    pub unsafe fn fill(
        &self,
        instance: &Bound<'_, PyAny>,
        values: [Bound<'_, PyAny>; N],
    ) -> PyResult<()> {
        // SAFETY: the caller's guarantee.
        unsafe { self.0.fill(instance, values) }
    }
}

/// A class's type version tag, or 0 if it has none or this build cannot read it. CPython
/// gives a class a new tag (or 0, "none yet") whenever an attribute of it or of one of its
/// bases is set, so an unchanged non-zero tag means nothing was set since it was read.
pub fn type_version_tag(class: &Bound<'_, PyType>) -> u32 {
    route::type_version_tag(class)
}

/// Makes attribute lookups on the classes of `metaclass`, a subclass of pydantic's
/// `ModelMetaclass` that defines nothing itself, cost what they cost on a plain class.
///
/// pydantic's metaclass defines `__getattr__`, so CPython routes every lookup on a model class
/// (`RunStatus.from_json` included) through its generic hook, which calls
/// `type.__getattribute__` as a Python-level method. The lookup set here calls it directly and
/// calls pydantic's `__getattr__` only on a miss, as that hook does. Returns whether it was
/// set (the portable route leaves the class as it is). Setting `__getattr__` or
/// `__getattribute__` on the metaclass later puts CPython's own hook back.
pub fn speed_up_class_lookups(metaclass: &Bound<'_, PyType>) -> PyResult<bool> {
    let py = metaclass.py();
    let plain_type = py.get_type::<PyType>();
    let own = metaclass.getattr("__dict__")?;
    let defines_lookup = own.contains("__getattr__")? || own.contains("__getattribute__")?;
    let inherits_type_lookup = metaclass
        .getattr("__getattribute__")?
        .is(&plain_type.getattr("__getattribute__")?);
    let is_plain = metaclass.is(&plain_type);
    if defines_lookup || !inherits_type_lookup || is_plain || !metaclass.is_subclass(&plain_type)? {
        return Err(Error::BadModel("not a metaclass that only inherits its lookups").into());
    }
    route::speed_up_class_lookups(metaclass, metaclass.getattr("__getattr__")?)
}

/// Whether [`speed_up_class_lookups`] is in effect for `metaclass`.
pub fn class_lookups_are_fast(metaclass: &Bound<'_, PyType>) -> bool {
    route::class_lookups_are_fast(metaclass)
}

/// The attribute `name` of `class`, checked to be a member descriptor (what `__slots__` makes).
fn member_descriptor<'py>(class: &Bound<'py, PyType>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let descriptor = class.getattr(name)?;
    let member_descriptor = std::ptr::addr_of_mut!(ffi::PyMemberDescr_Type);
    if descriptor.get_type().as_ptr() != member_descriptor.cast() {
        return Err(Error::BadModel("the model's slots are not member descriptors").into());
    }
    Ok(descriptor)
}

/// Direct access to the structures of CPython 3.9 to 3.13.
#[cfg(all(
    not(Py_3_14),
    not(Py_LIMITED_API),
    not(Py_GIL_DISABLED),
    not(PyPy),
    not(GraalPy)
))]
pub mod layout {
    use std::ffi::CStr;
    use std::mem::{offset_of, size_of};

    use pyo3::ffi;
    use pyo3::prelude::*;
    use pyo3::sync::PyOnceLock;
    use pyo3::types::{PyString, PyType};

    use super::NameMatch;
    use crate::errors::{py_size, Error};

    pub const NAME: &str = "layout";

    /// A compact ASCII `str` keeps its characters, one byte each, right after its
    /// `PyASCIIObject` header: six words up to 3.11 (the last is `wstr`), five from 3.12 on.
    #[cfg(not(Py_3_12))]
    const ASCII_HEADER_WORDS: usize = 6;
    #[cfg(Py_3_12)]
    const ASCII_HEADER_WORDS: usize = 5;
    const _: () =
        assert!(size_of::<ffi::PyASCIIObject>() == ASCII_HEADER_WORDS * size_of::<usize>());

    /// CPython's `PyMemberDescrObject` (`Include/cpython/descrobject.h`), unchanged from 3.9 to
    /// 3.13. Declared here because PyO3 gives `d_member` another type before 3.11.
    #[repr(C)]
    struct MemberDescrObject {
        common: ffi::PyDescrObject,
        member: *const ffi::PyMemberDef,
    }
    const _: () = assert!(
        offset_of!(MemberDescrObject, member)
            == size_of::<ffi::PyObject>() + 3 * size_of::<*mut ffi::PyObject>()
    );

    /// The `__getattr__` the fast class lookup falls back to (pydantic's).
    static FALLBACK_GETATTR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

    pub fn speed_up_class_lookups(
        metaclass: &Bound<'_, PyType>,
        getattr: Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let py = metaclass.py();
        let fallback = FALLBACK_GETATTR.get_or_init(py, || getattr.clone().unbind());
        if !fallback.bind(py).is(&getattr) {
            return Err(Error::BadModel("class lookups already use another __getattr__").into());
        }
        let class = metaclass.as_ptr().cast::<ffi::PyTypeObject>();
        // SAFETY: `metaclass` is a heap type (checked), so its slots are its own; CPython's own
        // slot updates write `tp_getattro` the same way, then invalidate the caches with
        // PyType_Modified. The GIL is held.
        unsafe {
            if (*class).tp_flags & ffi::Py_TPFLAGS_HEAPTYPE == 0 {
                return Err(Error::BadModel("the metaclass is not a heap type").into());
            }
            (*class).tp_getattro = Some(class_getattro);
            ffi::PyType_Modified(class);
        }
        Ok(true)
    }

    pub fn class_lookups_are_fast(metaclass: &Bound<'_, PyType>) -> bool {
        let class = metaclass.as_ptr().cast::<ffi::PyTypeObject>();
        // SAFETY: a type object is a PyTypeObject; the slot is read with the GIL held.
        let getattro = unsafe { (*class).tp_getattro };
        let ours: ffi::getattrofunc = class_getattro;
        getattro.is_some_and(|getattro| std::ptr::fn_addr_eq(getattro, ours))
    }

    /// `tp_getattro` of a model class: `type.__getattribute__`, then pydantic's `__getattr__`
    /// on an `AttributeError`, as CPython's generic hook for a class with `__getattr__` does.
    unsafe extern "C" fn class_getattro(
        class: *mut ffi::PyObject,
        name: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject {
        // SAFETY: CPython calls this with the GIL held and two live objects, `class` a type
        // whose metaclass was sped up; `PyType_Type` is a static type object; the fallback
        // is called with a vector of two borrowed arguments.
        unsafe {
            let type_lookup = (*std::ptr::addr_of!(ffi::PyType_Type)).tp_getattro;
            let found = match type_lookup {
                Some(lookup) => lookup(class, name),
                None => ffi::PyObject_GenericGetAttr(class, name),
            };
            if !found.is_null() || ffi::PyErr_ExceptionMatches(ffi::PyExc_AttributeError) == 0 {
                return found;
            }
            let py = Python::assume_attached();
            let Some(fallback) = FALLBACK_GETATTR.get(py) else {
                return found;
            };
            ffi::PyErr_Clear();
            let args = [class, name];
            ffi::PyObject_Vectorcall(fallback.as_ptr(), args.as_ptr(), 2, std::ptr::null_mut())
        }
    }

    pub fn type_version_tag(class: &Bound<'_, PyType>) -> u32 {
        // SAFETY: a type object is a PyTypeObject; the tag is a plain field, written only with
        // the GIL held, which the caller holds.
        unsafe { (*class.as_ptr().cast::<ffi::PyTypeObject>()).tp_version_tag }
    }

    /// A new `str` from ASCII text, copied in directly: CPython's UTF-8 decoder is skipped.
    ///
    /// # Safety
    /// `text` must be ASCII.
    pub unsafe fn new_ascii_str<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
        let len = py_size(text.len(), "string")?;
        // SAFETY: PyUnicode_New with a maximum character of 0x7f makes a compact ASCII str with
        // room for `len` bytes (and its NUL, already written) right after the header; the
        // bytes are ASCII by the caller's guarantee. The result is an owned reference.
        unsafe {
            let string = Bound::from_owned_ptr_or_err(py, ffi::PyUnicode_New(len, 0x7f))?;
            let data = string
                .as_ptr()
                .cast::<ffi::PyASCIIObject>()
                .add(1)
                .cast::<u8>();
            std::ptr::copy_nonoverlapping(text.as_ptr(), data, text.len());
            Ok(string)
        }
    }

    /// [`super::match_ascii_name`]: the characters of a compact ASCII `str` are compared in
    /// place; any other ready `str` holds a non-ASCII character, so it is none of the names.
    pub fn match_ascii_name(text: &Bound<'_, PyString>, names: &[&CStr]) -> NameMatch {
        let raw = text.as_ptr();
        // SAFETY: `raw` is a live exact str (checked by the caller); the flags are read as
        // PyO3 reads them for this version.
        if unsafe { ffi::PyUnicode_IS_COMPACT_ASCII(raw) } == 0 {
            return not_compact_ascii(raw);
        }
        // SAFETY: a compact ASCII str holds its length and then, after the header, that many
        // bytes; the slice does not outlive `text`.
        let ascii = unsafe {
            let len = usize::try_from(ffi::PyUnicode_GET_LENGTH(raw)).unwrap_or(0);
            std::slice::from_raw_parts(raw.cast::<ffi::PyASCIIObject>().add(1).cast::<u8>(), len)
        };
        names
            .iter()
            .position(|name| name.to_bytes() == ascii)
            .map_or(NameMatch::Other, NameMatch::Name)
    }

    /// Up to 3.11 a `str` made through the legacy `Py_UNICODE` API may not be ready yet: its
    /// flags say nothing, so it is left to the caller.
    #[cfg(not(Py_3_12))]
    fn not_compact_ascii(raw: *mut ffi::PyObject) -> NameMatch {
        // SAFETY: `raw` is a live str; the flag is read as PyO3 reads it for this version.
        if unsafe { ffi::PyUnicode_IS_READY(raw) } == 0 {
            NameMatch::UsePurePath
        } else {
            NameMatch::Other
        }
    }

    /// From 3.12 on every `str` is ready.
    #[cfg(Py_3_12)]
    fn not_compact_ascii(_raw: *mut ffi::PyObject) -> NameMatch {
        NameMatch::Other
    }

    /// The byte offsets of the slots in an instance.
    pub struct Slots<const N: usize>([usize; N]);

    impl<const N: usize> Slots<N> {
        pub fn of(class: &Bound<'_, PyType>, names: [&str; N]) -> PyResult<Self> {
            let basic_size: isize = class.getattr("__basicsize__")?.extract()?;
            let pointer = size_of::<*mut ffi::PyObject>() as isize;
            let mut offsets = [0usize; N];
            for (offset, name) in offsets.iter_mut().zip(names) {
                let descriptor = super::member_descriptor(class, name)?;
                // SAFETY: a member_descriptor is a `PyMemberDescrObject`; its member definition
                // lives as long as its class, which the descriptor keeps alive.
                let member = unsafe { &*(*descriptor.as_ptr().cast::<MemberDescrObject>()).member };
                let inside = member.offset >= pointer && member.offset + pointer <= basic_size;
                let unusual_flags = ffi::Py_READONLY | ffi::Py_RELATIVE_OFFSET;
                if member.type_code != ffi::Py_T_OBJECT_EX
                    || member.flags & unusual_flags != 0
                    || !inside
                {
                    return Err(
                        Error::BadModel("the model's slots are not writable object slots").into(),
                    );
                }
                *offset = usize::try_from(member.offset)
                    .map_err(|_| Error::BadModel("negative slot offset"))?;
            }
            Ok(Self(offsets))
        }

        /// # Safety
        /// As [`super::InstanceSlots::fill`].
        pub unsafe fn fill(
            &self,
            instance: &Bound<'_, PyAny>,
            values: [Bound<'_, PyAny>; N],
        ) -> PyResult<()> {
            let base = instance.as_ptr().cast::<u8>();
            for (&offset, value) in self.0.iter().zip(values) {
                // SAFETY: each offset was checked to be an object slot inside an instance of
                // the class, and the caller guarantees a new instance of it whose slots are
                // still NULL: the slot takes over the value's reference, nothing is released.
                unsafe { *base.add(offset).cast::<*mut ffi::PyObject>() = value.into_ptr() };
            }
            Ok(())
        }
    }
}

/// The same operations through the public C API, for interpreters the layout route does not
/// know. Compiled on every version, so that it keeps compiling and its tests compare it with
/// the layout route; only those interpreters call it.
#[allow(dead_code)]
pub mod portable {
    use std::ffi::CStr;
    use std::os::raw::c_char;

    use pyo3::ffi;
    use pyo3::prelude::*;
    use pyo3::types::{PyString, PyType};

    use super::NameMatch;
    use crate::errors::py_size;

    pub const NAME: &str = "portable";

    /// CPython's generic hook stays.
    pub fn speed_up_class_lookups(
        _metaclass: &Bound<'_, PyType>,
        _getattr: Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        Ok(false)
    }

    pub fn class_lookups_are_fast(_metaclass: &Bound<'_, PyType>) -> bool {
        false
    }

    /// No tag is read: every check takes the slow way.
    pub fn type_version_tag(_class: &Bound<'_, PyType>) -> u32 {
        0
    }

    /// A new `str` from UTF-8 text (ASCII included), decoded by CPython.
    ///
    /// # Safety
    /// None beyond the signature; `unsafe` only to match the layout route.
    pub unsafe fn new_ascii_str<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
        let len = py_size(text.len(), "string")?;
        // SAFETY: the pointer and length describe a live `&str`; the result is an owned
        // reference or NULL with an exception set.
        unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyUnicode_FromStringAndSize(text.as_ptr().cast::<c_char>(), len),
            )
        }
    }

    /// [`super::match_ascii_name`] by `PyUnicode_CompareWithASCIIString`, which raises nothing.
    pub fn match_ascii_name(text: &Bound<'_, PyString>, names: &[&CStr]) -> NameMatch {
        names
            .iter()
            // SAFETY: `text` is a live str and each name a NUL-terminated ASCII string.
            .position(|name| unsafe {
                ffi::PyUnicode_CompareWithASCIIString(text.as_ptr(), name.as_ptr()) == 0
            })
            .map_or(NameMatch::Other, NameMatch::Name)
    }

    /// The slots' names: each value is stored through the member descriptor, as
    /// `object.__setattr__` would store it.
    pub struct Slots<const N: usize>([Py<PyString>; N]);

    impl<const N: usize> Slots<N> {
        pub fn of(class: &Bound<'_, PyType>, names: [&str; N]) -> PyResult<Self> {
            for name in names {
                super::member_descriptor(class, name)?;
            }
            Ok(Self(
                names.map(|name| PyString::intern(class.py(), name).unbind()),
            ))
        }

        /// # Safety
        /// None beyond the signature; `unsafe` only to match the layout route.
        pub unsafe fn fill(
            &self,
            instance: &Bound<'_, PyAny>,
            values: [Bound<'_, PyAny>; N],
        ) -> PyResult<()> {
            for (name, value) in self.0.iter().zip(values) {
                // SAFETY: all three are live objects; the call takes its own references.
                let failed = unsafe {
                    ffi::PyObject_GenericSetAttr(instance.as_ptr(), name.as_ptr(), value.as_ptr())
                };
                if failed != 0 {
                    return Err(PyErr::fetch(instance.py()));
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use pyo3::ffi;
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyString, PyType};

    use super::{portable, InstanceSlots, NameMatch};

    const NAMES: [&CStr; 3] = [c"status", c"message", c"warnings"];

    fn attached<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
        Python::initialize();
        Python::attach(f)
    }

    fn eval<'py>(py: Python<'py>, code: &CStr) -> Bound<'py, PyAny> {
        py.eval(code, None, None).unwrap()
    }

    /// What Python itself says about a str: value, length, ASCII, size in memory, hash.
    fn describe(text: &Bound<'_, PyAny>) -> (String, usize, bool, usize, isize) {
        let sys = text.py().import("sys").unwrap();
        (
            text.extract().unwrap(),
            text.len().unwrap(),
            text.call_method0("isascii").unwrap().extract().unwrap(),
            sys.call_method1("getsizeof", (text,))
                .unwrap()
                .extract()
                .unwrap(),
            text.hash().unwrap(),
        )
    }

    #[test]
    fn every_supported_version_builds_the_layout_route() {
        let expected = if cfg!(all(
            not(Py_3_14),
            not(Py_LIMITED_API),
            not(Py_GIL_DISABLED),
            not(PyPy),
            not(GraalPy)
        )) {
            "layout"
        } else {
            "portable"
        };
        assert_eq!(super::ROUTE, expected);
    }

    #[test]
    fn the_interpreter_is_the_one_built_for() {
        attached(|py| super::check_interpreter(py).unwrap());
    }

    #[test]
    fn ascii_strings_are_the_ones_python_makes() {
        let long = "x".repeat(5000);
        let texts = ["", "a", "status", "\x00\x7f end", &long];
        attached(|py| {
            for text in texts {
                let python = PyString::new(py, text).into_any();
                let portable = unsafe { portable::new_ascii_str(py, text) }.unwrap();
                let routed = unsafe { super::new_ascii_str(py, text) }.unwrap();
                assert_eq!(describe(&portable), describe(&python));
                assert_eq!(describe(&routed), describe(&python));
                assert!(routed.is_exact_instance_of::<PyString>());
            }
        });
    }

    #[test]
    fn names_match_by_value_on_both_routes() {
        attached(|py| {
            let cases = [
                (c"'status'", NameMatch::Name(0)),
                (c"'mess' + 'age'", NameMatch::Name(1)),
                (c"''.join(['warn', 'ings'])", NameMatch::Name(2)),
                (c"'statuses'", NameMatch::Other),
                (c"'statu'", NameMatch::Other),
                (c"''", NameMatch::Other),
                (c"'st\\u0430tus'", NameMatch::Other),
                (c"'status\\u00e9'", NameMatch::Other),
                (c"'\\U0001f600'", NameMatch::Other),
                (c"'status\\ud800'", NameMatch::Other),
                (c"'status\\x00'", NameMatch::Other),
            ];
            for (code, expected) in cases {
                let text = eval(py, code);
                let text = text.cast::<PyString>().unwrap();
                assert_eq!(super::match_ascii_name(text, &NAMES), expected, "{code:?}");
                assert_eq!(
                    portable::match_ascii_name(text, &NAMES),
                    expected,
                    "{code:?}"
                );
            }
            let subclass = eval(py, c"type('S', (str,), {})('status')");
            let subclass = subclass.cast::<PyString>().unwrap();
            assert_eq!(
                super::match_ascii_name(subclass, &NAMES),
                NameMatch::UsePurePath
            );
        });
    }

    fn slotted_class(py: Python<'_>) -> Bound<'_, PyType> {
        let namespace = PyDict::new(py);
        py.run(
            c"class Slotted:\n    __slots__ = ('a', 'b', 'c')\n",
            None,
            Some(&namespace),
        )
        .unwrap();
        namespace
            .get_item("Slotted")
            .unwrap()
            .unwrap()
            .cast_into::<PyType>()
            .unwrap()
    }

    fn new_instance<'py>(class: &Bound<'py, PyType>) -> Bound<'py, PyAny> {
        unsafe {
            Bound::from_owned_ptr_or_err(
                class.py(),
                ffi::PyType_GenericAlloc(class.as_ptr().cast::<ffi::PyTypeObject>(), 0),
            )
        }
        .unwrap()
    }

    #[test]
    fn slots_are_filled_as_setattr_fills_them() {
        attached(|py| {
            let class = slotted_class(py);
            let values = [
                PyString::new(py, "one").into_any(),
                py.None().into_bound(py),
                eval(py, c"[1, 2]"),
            ];
            let read = |instance: &Bound<'_, PyAny>| -> Vec<Py<PyAny>> {
                ["a", "b", "c"]
                    .map(|name| instance.getattr(name).unwrap().unbind())
                    .into()
            };
            let routed = InstanceSlots::of(&class, ["a", "b", "c"]).unwrap();
            let instance = new_instance(&class);
            unsafe { routed.fill(&instance, values.clone()) }.unwrap();
            let portable = portable::Slots::of(&class, ["a", "b", "c"]).unwrap();
            let other = new_instance(&class);
            unsafe { portable.fill(&other, values.clone()) }.unwrap();
            for made in [read(&instance), read(&other)] {
                for (got, value) in made.iter().zip(&values) {
                    assert!(got.is(value));
                }
            }
            // Each slot holds one reference of its own: dropping the instances leaves the
            // list with the references it had.
            let list = values[2].clone();
            let references = || unsafe { ffi::Py_REFCNT(list.as_ptr()) };
            let before = references();
            drop((instance, other));
            assert_eq!(references(), before - 2);
        });
    }

    #[test]
    fn only_writable_object_slots_are_accepted() {
        attached(|py| {
            let class = slotted_class(py);
            let type_class = py.get_type::<PyType>();
            // A getset descriptor and a missing name, on either route.
            assert!(InstanceSlots::of(&type_class, ["__name__"]).is_err());
            assert!(InstanceSlots::of(&class, ["a", "missing"]).is_err());
            // A read-only Py_ssize_t member: the layout route reads its definition and refuses
            // it; the portable route cannot read it, and would fail when storing a value.
            let basic_size = InstanceSlots::of(&type_class, ["__basicsize__"]);
            assert_eq!(basic_size.is_err(), super::ROUTE == "layout");
        });
    }
}
