//! The core of `iqm_runstatus`, without Python: IQM job-status JSON parsed into borrowed
//! statuses, NDJSON and JSON arrays split into payloads, and many statuses kept as columns of
//! codes over interned strings, parsed on several threads. The Python bindings build on it;
//! the fuzz targets and Rust users link it without an interpreter.

pub mod columns;
pub mod error;
pub mod parallel;
pub mod parse;
pub mod simd;
pub mod split;
pub mod status;

pub use error::{Error, Field};
