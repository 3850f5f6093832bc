//! End-to-end tests of sotto (see `tests/`).
