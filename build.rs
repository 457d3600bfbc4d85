fn main() {
    // `#[cfg(Py_3_10)]`, `#[cfg(Py_GIL_DISABLED)]`... for the interpreter PyO3 builds against.
    pyo3_build_config::use_pyo3_cfgs();
}
