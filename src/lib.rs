//! The native core of `iqm_runstatus`: IQM job-status JSON parsed in Rust into drop-in
//! `RunStatus` objects.

pub mod batch;
pub mod columns;
pub mod cpython;
pub mod error;
pub mod fastcall;
pub mod input;
pub mod model;
pub mod objects;
pub mod parallel;
pub mod parse;
pub mod poller;
pub mod single;
pub mod split;
pub mod status;
pub mod tracker;

use pyo3::prelude::*;

#[pymodule]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::batch::{StatusBatch, StatusBatchIter};
    #[pymodule_export]
    use crate::model::{class_lookups_are_fast, init, speed_up_class_lookups};
    #[pymodule_export]
    use crate::poller::StatusPoller;
    #[pymodule_export]
    use crate::tracker::JobTracker;

    #[pymodule_init]
    fn add_entry_points(module: &Bound<'_, PyModule>) -> PyResult<()> {
        crate::cpython::check_interpreter(module.py())?;
        module.add("CPYTHON_ROUTE", crate::cpython::ROUTE)?;
        crate::fastcall::add_functions(module)
    }
}
