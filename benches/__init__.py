"""pytest-benchmark suites: a package, so its module names cannot clash with the tests'."""
