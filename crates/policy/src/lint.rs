//! Manifest lint (SPEC M-4).
