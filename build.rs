//! Gives the crate PyO3's interpreter cfgs (`Py_3_10`, `Py_3_12`, ..., `Py_LIMITED_API`,
//! `Py_GIL_DISABLED`, `PyPy`), so that `src/cpython.rs` can pick its route per CPython version.

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}
