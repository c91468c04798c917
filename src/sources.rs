//! Reading whole inputs into payloads: NDJSON text and files, line by line, and JSON arrays
//! split element by element, each payload then parsed as a batch parses it.

use std::borrow::Cow;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};

use crate::errors::{core_to_py, ErrorEntry};
use crate::input::{with_json_bytes, Accept};
use crate::payloads::{element_object, parse_payloads, str_bytes, try_copy};
use iqm_runstatus_core::columns::Builder;
use iqm_runstatus_core::split::{
    foreign_encoding, ndjson_lines, split_array, LineStream, SplitError, BOM,
};
use iqm_runstatus_core::Error as CoreError;

/// How much of an NDJSON file is read at a time.
const NDJSON_CHUNK: usize = 1 << 20;

/// Appends the non-blank lines of `region` to `builder`, each line one payload.
fn add_lines(
    py: Python<'_>,
    builder: &mut Builder,
    errors: &mut Vec<ErrorEntry>,
    region: &[u8],
    text: bool,
    threads: usize,
) -> PyResult<()> {
    let lines = ndjson_lines(region).map_err(|err| core_to_py(err.into()))?;
    // Same layout: collected in place, no second list.
    let lines: Vec<Option<&[u8]>> = lines.into_iter().map(Some).collect();
    let (part, part_errors) = parse_payloads(py, &lines, threads, builder.len(), |at| {
        let line = lines.get(at).copied().flatten().unwrap_or_default();
        element_object(py, line, text)
    })?;
    builder.append(part).map_err(core_to_py)?;
    if errors.is_empty() {
        // Moved, not copied: a whole input read at once is one part.
        *errors = part_errors;
    } else {
        errors.extend(part_errors);
    }
    Ok(())
}

/// The bytes of a whole input, and whether it is text: `bytes` and `str` borrowed (immutable,
/// so safe to read without the GIL), any other buffer copied; `None` for other objects.
fn source_bytes<'a>(source: &'a Bound<'_, PyAny>) -> PyResult<Option<(Cow<'a, [u8]>, bool)>> {
    if let Ok(bytes) = source.cast_exact::<PyBytes>() {
        return Ok(Some((Cow::Borrowed(bytes.as_bytes()), false)));
    }
    if let Ok(text) = source.cast::<PyString>() {
        return Ok(Some((str_bytes(text)?, true)));
    }
    let subclass = (source.is_instance_of::<PyBytes>() || source.is_instance_of::<PyByteArray>())
        && !source.is_exact_instance_of::<PyByteArray>();
    if subclass {
        // json.loads reads a bytes or bytearray subclass through its own decode().
        let py = source.py();
        let encoding = py
            .import("json")?
            .call_method1("detect_encoding", (source,))?;
        let text = source.call_method1("decode", (encoding, "surrogatepass"))?;
        let text = text.cast_into::<PyString>()?;
        return Ok(Some((Cow::Owned(str_bytes(&text)?.into_owned()), true)));
    }
    if let Ok(bytes) = with_json_bytes(source, Accept::AnyBuffer, try_copy) {
        return Ok(Some((Cow::Owned(bytes.map_err(core_to_py)?), false)));
    }
    // A non-contiguous view: read as `from_json` reads one, through `tobytes()`.
    if let Ok(view) = source.cast::<PyMemoryView>() {
        let bytes = view.call_method0("tobytes")?;
        let bytes = try_copy(bytes.cast_into::<PyBytes>()?.as_bytes()).map_err(core_to_py)?;
        return Ok(Some((Cow::Owned(bytes), false)));
    }
    Ok(None)
}

/// A whole JSON array as the splitter reads it: UTF-8 (lone surrogates as `surrogatepass`
/// writes them), elements handed to the pure path as `str` if `text`, and whether a leading
/// byte order mark is skipped (for `bytes`, as `json.loads` does).
struct ArrayDocument<'a> {
    bytes: Cow<'a, [u8]>,
    text: bool,
    skip_bom: bool,
}

impl<'a> ArrayDocument<'a> {
    fn read(py: Python<'_>, raw: &'a Bound<'_, PyAny>) -> PyResult<Option<ArrayDocument<'a>>> {
        let Some((bytes, text)) = source_bytes(raw)? else {
            return Ok(None);
        };
        if text {
            return Ok(Some(ArrayDocument {
                bytes,
                text,
                skip_bom: false,
            }));
        }
        // UTF-16 and UTF-32 are decoded as json.loads decodes them (its error if they are
        // malformed), then read as text.
        if let Some(encoding) = foreign_encoding(&bytes) {
            let decoded =
                PyBytes::new(py, &bytes).call_method1("decode", (encoding, "surrogatepass"))?;
            let decoded = decoded.cast_into::<PyString>()?;
            return Ok(Some(ArrayDocument {
                bytes: Cow::Owned(str_bytes(&decoded)?.into_owned()),
                text: true,
                skip_bom: false,
            }));
        }
        Ok(Some(ArrayDocument {
            skip_bom: bytes.starts_with(BOM),
            bytes,
            text,
        }))
    }
}

/// The exception `json.loads` raises for a document the splitter refused (or for an object it
/// does not read): the stdlib's own type, message and position. Called only on failure, so
/// the cost of building the document's Python objects is paid only then.
fn json_loads_error(py: Python<'_>, raw: &Bound<'_, PyAny>) -> PyErr {
    let attempt = || -> PyResult<PyErr> {
        // json.loads takes str, bytes and bytearray; a memoryview is read as bytes.
        let raw = if raw.cast::<PyMemoryView>().is_ok() {
            raw.call_method0("tobytes")?
        } else {
            raw.clone()
        };
        py.import("json")?.call_method1("loads", (raw,))?;
        Ok(PyRuntimeError::new_err(
            "the array splitter refused a document json.loads reads",
        ))
    };
    attempt().unwrap_or_else(|err| err)
}

/// The most characters of a path an error message shows.
const SHOWN_PATH_CHARS: usize = 100;

/// The `OSError` of opening path `source`, its path cut to [`SHOWN_PATH_CHARS`] so that no
/// message echoes a huge string whole; when the path is a `str` that looks like JSON text, the
/// message says that a `str` is a path and NDJSON text goes in as `bytes`. Other errors (and
/// an `OSError` that is not built from `errno`, `strerror`, `filename`) pass through unchanged.
fn path_error(py: Python<'_>, source: &Bound<'_, PyAny>, err: PyErr) -> PyErr {
    let rebuilt = || -> PyResult<Option<PyErr>> {
        if !err.is_instance_of::<PyOSError>(py) {
            return Ok(None);
        }
        let exception = err.value(py);
        let (errno, strerror) = (exception.getattr("errno")?, exception.getattr("strerror")?);
        if errno.is_none() || strerror.is_none() {
            return Ok(None);
        }
        let path = match source.cast::<PyString>() {
            Ok(text) => text.to_string_lossy().into_owned(),
            Err(_) => exception
                .getattr("filename")?
                .str()?
                .to_string_lossy()
                .into_owned(),
        };
        let looks_like_text = source.is_instance_of::<PyString>()
            && (path.trim_start().starts_with(['{', '[']) || path.contains('\n'));
        let mut message = strerror.str()?.to_string_lossy().into_owned();
        if looks_like_text {
            message.push_str(
                " (from_ndjson reads a str as a path; give NDJSON text as bytes, \
                 such as text.encode())",
            );
        }
        let shown = if path.chars().count() > SHOWN_PATH_CHARS {
            let head: String = path.chars().take(SHOWN_PATH_CHARS).collect();
            format!("{head}... ({} characters)", path.chars().count())
        } else {
            path
        };
        let rebuilt = err.get_type(py).call1((errno, message, shown))?;
        Ok(Some(PyErr::from_value(rebuilt)))
    };
    match rebuilt() {
        Ok(Some(rebuilt)) => rebuilt,
        Ok(None) | Err(_) => err,
    }
}

/// The payloads of NDJSON `source`: the text itself (`bytes`, `bytearray` or `memoryview`), a
/// path (`str` or `os.PathLike`), or a binary file object. Lines holding only JSON whitespace
/// are skipped.
pub fn read_ndjson(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    threads: usize,
) -> PyResult<(Builder, Vec<ErrorEntry>)> {
    // A str is a path, as `open`, `polars.read_ndjson` and `pandas.read_json` take it.
    if source.is_instance_of::<PyString>() || source.hasattr("__fspath__")? {
        let file = py
            .import("builtins")?
            .getattr("open")?
            .call1((source, "rb"))
            .map_err(|err| path_error(py, source, err))?;
        let result = read_ndjson_file(py, &file, threads);
        file.call_method0("close")?;
        return result;
    }
    if !source.hasattr("read")? {
        let Some((bytes, text)) = source_bytes(source)? else {
            return Err(PyTypeError::new_err(
                "from_ndjson takes bytes, a str or os.PathLike path, or a binary file",
            ));
        };
        let mut builder = Builder::default();
        let mut errors = Vec::new();
        add_lines(py, &mut builder, &mut errors, &bytes, text, threads)?;
        return Ok((builder, errors));
    }
    read_ndjson_file(py, source, threads)
}

/// The payloads of an NDJSON binary file, read in chunks; a line split across chunks waits for
/// the next one.
fn read_ndjson_file(
    py: Python<'_>,
    file: &Bound<'_, PyAny>,
    threads: usize,
) -> PyResult<(Builder, Vec<ErrorEntry>)> {
    let read = file.getattr("read")?;
    let mut builder = Builder::default();
    let mut errors = Vec::new();
    let mut stream = LineStream::default();
    loop {
        let chunk = read.call1((NDJSON_CHUNK,))?;
        let chunk = chunk.cast::<PyBytes>().map_err(|_| {
            PyTypeError::new_err("from_ndjson needs a binary file (opened with 'rb')")
        })?;
        let chunk = chunk.as_bytes();
        if chunk.is_empty() {
            break;
        }
        // Only whole lines are parsed; the tail waits for the next chunk.
        let whole = stream
            .push(chunk)
            .map_err(|err| core_to_py(CoreError::from(err)))?;
        if let Some(len) = whole {
            let lines = stream.whole_lines(len);
            add_lines(py, &mut builder, &mut errors, lines, false, threads)?;
            stream.consume(len);
        }
    }
    add_lines(py, &mut builder, &mut errors, stream.rest(), false, threads)?;
    Ok((builder, errors))
}

/// The payloads of one JSON array, each element one payload; the document itself must be JSON
/// as `json.loads` reads it, or the call raises what `json.loads` raises.
pub fn read_json_array(
    py: Python<'_>,
    raw: &Bound<'_, PyAny>,
    threads: usize,
) -> PyResult<(Builder, Vec<ErrorEntry>)> {
    let Some(document) = ArrayDocument::read(py, raw)? else {
        return Err(json_loads_error(py, raw));
    };
    let elements = match split_array(&document.bytes, document.skip_bom) {
        Ok(elements) => elements,
        Err(SplitError::NotAnArray(type_name)) => {
            return Err(PyTypeError::new_err(format!(
                "a JSON array of job statuses is expected at the top level, not {type_name}"
            )))
        }
        Err(SplitError::Invalid) => return Err(json_loads_error(py, raw)),
        Err(SplitError::OutOfMemory) => return Err(core_to_py(CoreError::OutOfMemory)),
    };
    let slices: Vec<Option<&[u8]>> = elements.into_iter().map(Some).collect();
    let (builder, errors) = parse_payloads(py, &slices, threads, 0, |at| {
        let element = slices.get(at).copied().flatten().unwrap_or_default();
        element_object(py, element, document.text)
    })?;
    Ok((builder, errors))
}
