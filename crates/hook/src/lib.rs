//! cordon's gate for coding agents' tool calls (SPEC E-4).

#![forbid(unsafe_code)]

pub mod shell;
