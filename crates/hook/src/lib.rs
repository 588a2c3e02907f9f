//! cordon's gate for coding agents' tool calls (SPEC E-4): what a hook is asked, what the
//! policy decision point and the DLP classifier must be asked in turn, and the answer.
//!
//! [`shell`] parses command lines conservatively; [`bash`] turns them into PDP requests;
//! [`claude`] reads Claude Code's hook input, maps each tool to requests and content to scan,
//! and writes the hook's answer.
//!
//! What this crate does not do: read files, the environment or the clock. The caller's
//! [`World`] answers the few questions about the machine (where a program is on `PATH`,
//! whether a path exists), so every decision here can be tested without one.

#![forbid(unsafe_code)]

pub mod bash;
pub mod claude;
pub mod shell;

use cordon_policy::pdp::Request;

/// What the hook may ask about the machine it runs on.
pub trait World {
    /// The user's home directory (`~`).
    fn home(&self) -> &str;
    /// The absolute path of the program a command name runs (a `PATH` lookup), if any.
    fn which(&self, name: &str) -> Option<String>;
    /// Whether something exists at an absolute path.
    fn exists(&self, path: &str) -> bool;
}

/// A request to decide, and what in the tool call it stands for (for the reason shown to the
/// user and the model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The PDP request.
    pub request: Request,
    /// What it is for, e.g. ``the command `cat .env` ``.
    pub what: String,
}
