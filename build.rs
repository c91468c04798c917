//! Gives the crate PyO3's interpreter cfgs (`Py_3_10`, `Py_3_12`, ..., `Py_LIMITED_API`,
//! `Py_GIL_DISABLED`, `PyPy`), so that `src/cpython.rs` can pick its route per CPython version,
//! and the version built for, which it checks again at import.

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    let version = pyo3_build_config::get().version();
    println!(
        "cargo:rustc-env=IQM_RUNSTATUS_BUILT_FOR={}.{}",
        version.major, version.minor
    );
}
