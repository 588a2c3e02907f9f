//! How commands fail: an exit code and a diagnostic, printed for people or as JSON.

use std::process::ExitCode;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, JSONReportHandler};

/// Exit code: a check failed (verification, lint, decision, tests).
pub const CHECK_FAILED: u8 = 1;
/// Exit code: usage error or unreadable/malformed input.
pub const BAD_INPUT: u8 = 2;
/// Exit code: `policy eval` decided `approval_required`.
pub const APPROVAL_REQUIRED: u8 = 3;

/// Exit code: `cordon run` refused to start the agent or could not (verification, grants,
/// missing sandbox layers, setup), distinct from any status the agent itself returns.
pub const RUN_REFUSED: u8 = 125;

/// A command's failure.
#[derive(Debug)]
pub struct Fail {
    exit: u8,
    report: miette::Report,
}

impl Fail {
    /// Bad input (exit 2) with a diagnostic.
    pub fn input(d: impl Diagnostic + Send + Sync + 'static) -> Self {
        Self {
            exit: BAD_INPUT,
            report: miette::Report::new(d),
        }
    }

    /// A failed check (exit 1) with a report already made.
    pub fn check_report(report: miette::Report) -> Self {
        Self {
            exit: CHECK_FAILED,
            report,
        }
    }

    /// A failed check with a plain message.
    pub fn check_msg(msg: impl Into<String>) -> Self {
        Self {
            exit: CHECK_FAILED,
            report: miette::miette!("{}", msg.into()),
        }
    }

    /// Bad input with a plain message.
    pub fn input_msg(msg: impl Into<String>) -> Self {
        Self {
            exit: BAD_INPUT,
            report: miette::miette!("{}", msg.into()),
        }
    }

    /// The diagnostic's message (for the audit trail).
    pub fn message(&self) -> String {
        self.report.to_string()
    }

    /// The same failure with another exit code.
    pub fn with_exit(self, exit: u8) -> Self {
        Self { exit, ..self }
    }

    /// Print and turn into the process exit code.
    pub fn report(self, json: bool) -> ExitCode {
        let diag: &dyn Diagnostic = self.report.as_ref();
        let mut out = String::new();
        if json {
            let _ = JSONReportHandler::new().render_report(&mut out, diag);
            eprintln!("{out}");
        } else {
            let theme = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                GraphicalTheme::unicode()
            } else {
                GraphicalTheme::unicode_nocolor()
            };
            let _ = GraphicalReportHandler::new_themed(theme)
                .with_context_lines(2)
                .render_report(&mut out, diag);
            eprint!("{out}");
        }
        ExitCode::from(self.exit)
    }
}

/// Turn a plain error into bad input.
impl From<anyhow::Error> for Fail {
    fn from(e: anyhow::Error) -> Self {
        Self::input_msg(format!("{e:#}"))
    }
}

/// The result of a command: the exit code on success.
pub type Outcome = Result<u8, Fail>;

impl From<cordon_audit::store::StoreError> for Fail {
    /// The log cannot be read or written: bad input (its path and the reason are in the message).
    fn from(e: cordon_audit::store::StoreError) -> Self {
        Self::input_msg(e.to_string())
    }
}
