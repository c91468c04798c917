//! The Python bindings of `iqm_runstatus`: the core's parses turned into drop-in `RunStatus`
//! objects, batches and a tracker. The parsing itself is in the `iqm_runstatus_core` crate.

mod arrow;
mod batch;
mod convert;
mod cpython;
mod errors;
mod fastcall;
mod input;
mod instances;
mod model;
mod payloads;
mod poller;
mod single;
mod sources;
mod tracker;

use pyo3::prelude::*;

#[pymodule]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::arrow::ArrowSnapshot;
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
