//! The errors of the core: why a document was not parsed, or a state not restored. The
//! bindings turn them into Python exceptions, in one place.

use std::fmt;

/// A field of the job-status object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Status,
    Message,
    Warnings,
}

impl Field {
    /// The JSON key, equal to the pydantic field name.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Status => "status",
            Field::Message => "message",
            Field::Warnings => "warnings",
        }
    }
}

/// Why the core did not produce a parsed status, a column store or a parallel parse.
///
/// The single-payload entry points never raise these: they hand the input to the pure-Python
/// path, whose exception is the reference's own. The variants say why, for tests and batches.
#[derive(Debug)]
pub enum Error {
    /// The bytes are not JSON the fast path accepts: a syntax error, invalid UTF-8, a lone
    /// surrogate escape, a number outside `f64`, or nesting deeper than the recursion limit.
    Json(serde_json::Error),
    /// The top-level JSON value is not an object.
    NotAnObject,
    /// A number's integer part has more digits than pydantic's JSON parser reads.
    TooManyDigits,
    /// The object has no `status` key.
    MissingStatus,
    /// `status` is a string, but not one of the vocabulary's values.
    UnknownStatus,
    /// A field holds a value of a type the model does not accept.
    WrongType(Field),
    /// A field's key appears more than once (the reference silently keeps the last one).
    DuplicateKey(Field),
    /// A batch would hold more distinct strings or lists than a `u32` id can number.
    TooLarge,
    /// A pickled batch or tracker state is inconsistent (truncated or not ours).
    BadState(&'static str),
    /// A worker thread of a parallel parse stopped without a result.
    WorkerFailed,
    /// Room for a column or a list sized from the input could not be reserved.
    OutOfMemory,
    /// A set of statuses that cannot be a vocabulary (see `status::Vocabulary::new`).
    BadVocabulary(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Json(err) => write!(f, "invalid JSON: {err}"),
            Error::NotAnObject => f.write_str("a job status must be a JSON object"),
            Error::TooManyDigits => f.write_str("a number has more than 4300 integer digits"),
            Error::MissingStatus => f.write_str("the key 'status' is missing"),
            Error::UnknownStatus => f.write_str("'status' is not a known job status"),
            Error::WrongType(field) => write!(f, "'{}' has the wrong type", field.name()),
            Error::DuplicateKey(field) => write!(f, "the key '{}' appears twice", field.name()),
            Error::TooLarge => f.write_str("too many distinct strings for one batch"),
            Error::BadState(why) => write!(f, "not a valid batch state: {why}"),
            Error::WorkerFailed => f.write_str("a parse worker thread failed"),
            Error::OutOfMemory => f.write_str("out of memory while parsing the batch"),
            Error::BadVocabulary(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::collections::TryReserveError> for Error {
    fn from(_: std::collections::TryReserveError) -> Self {
        Error::OutOfMemory
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::Json(err)
    }
}
