//! cordon's Linux sandbox (SPEC E-1).
//!
//! [`probe`] asks the kernel which isolation features it offers (Landlock ABI, seccomp,
//! no_new_privs, namespaces); [`exec`] computes what granted programs need to start (loader,
//! shared libraries, script interpreters), so that execute rights come from `commandsAllowed`
//! rather than being granted wide; [`launch`] runs a program under every layer in stages, with
//! the [`seccomp`] filter installed last.
//!
//! # What this crate does not do
//!
//! It does not evaluate policy: it receives resolved paths and programs. It is the only crate
//! of cordon with `unsafe` code (system calls the standard library does not wrap); every block
//! carries a `// SAFETY:` comment.
//!
//! # Example
//!
//! ```no_run
//! let features = cordon_sandbox::probe::probe();
//! for layer in features.missing_required() {
//!     eprintln!("missing: {} ({})", layer.name, layer.missing.unwrap_or_default());
//! }
//! let plan = cordon_sandbox::exec::exec_plan(&["/usr/bin/convert".into()]).unwrap();
//! println!("{} files get the execute right", plan.execute.len());
//! ```

pub mod bridge;
pub mod exec;
pub mod launch;
pub mod probe;
pub mod process;
pub mod seccomp;
