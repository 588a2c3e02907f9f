//! Problems found in a document a person wrote (manifest, template, envelope), located by field
//! and by line and column, and shown as miette diagnostics.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};
use serde::Serialize;

/// One problem in a document.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// A stable code such as `manifest::unknown-field`.
    pub code: String,
    /// What is wrong, lowercase, user input in backticks.
    pub message: String,
    /// The field as a JSON pointer (`/readPaths/0`); empty for the whole document.
    pub field: String,
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column (in characters) of the problem.
    pub column: usize,
    /// How to fix it, if there is something better to say than the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Byte offset and length of the part the problem is about.
    #[serde(skip)]
    pub span: (usize, usize),
    #[serde(skip)]
    source: Option<Arc<NamedSource<String>>>,
}

impl Problem {
    /// A problem at a byte span of `src`.
    pub fn at(
        src: &str,
        span: (usize, usize),
        code: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Self {
        let (line, column) = line_column(src, span.0);
        Self {
            code: code.into(),
            message: message.into(),
            field: field.into(),
            line,
            column,
            help,
            span,
            source: None,
        }
    }
}

/// 1-based line and character column of a byte offset (clamped to the text).
pub fn line_column(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = src.get(..offset).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// Byte offset of a 1-based line and column (as serde_json reports them).
pub fn offset_of(src: &str, line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match src.get(start..).and_then(|s| s.find('\n')) {
            Some(i) => start += i + 1,
            None => return src.len(),
        }
    }
    let rest = src.get(start..).unwrap_or_default();
    let col = rest
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(rest.len(), |(i, _)| i);
    (start + col).min(src.len())
}

/// Every problem found in one document.
#[derive(Debug, Clone)]
pub struct Problems {
    /// What the document is (`manifest`, `envelope`, …).
    pub what: &'static str,
    /// Its name for messages, usually the file path.
    pub name: String,
    /// The problems, in document order.
    pub problems: Vec<Problem>,
    source: Arc<NamedSource<String>>,
}

impl Problems {
    /// One problem about a whole document (at its start).
    pub fn one(what: &'static str, name: &str, src: &str, code: String, message: String) -> Self {
        Self::new(
            what,
            name,
            src,
            vec![Problem::at(src, (0, 0), code, "", message, None)],
        )
    }

    /// Gather problems about `src`.
    pub fn new(what: &'static str, name: &str, src: &str, mut problems: Vec<Problem>) -> Self {
        // Very large inputs are not kept for display: the position says enough.
        let shown = if src.len() <= 1 << 20 { src } else { "" };
        let source = Arc::new(NamedSource::new(name, shown.to_owned()).with_language("json"));
        problems.sort_by_key(|p| p.span.0);
        for p in &mut problems {
            if !shown.is_empty() {
                p.source = Some(source.clone());
            }
        }
        Self {
            what,
            name: name.to_owned(),
            problems,
            source,
        }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] if one.field.is_empty() => {
                write!(f, "{} `{}`: {}", self.what, self.name, one.message)
            }
            [one] => write!(
                f,
                "{} `{}` at `{}`: {}",
                self.what, self.name, one.field, one.message
            ),
            many => write!(
                f,
                "{} `{}` has {} problems",
                self.what,
                self.name,
                many.len()
            ),
        }
    }
}

impl std::error::Error for Problems {}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "`{}`: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_deref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        let label = format!("line {}, column {}", self.line, self.column);
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some(label),
            self.span.0,
            self.span.1,
        ))))
    }
}

impl Diagnostic for Problems {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self.problems.as_slice() {
            [one] => one.code(),
            _ => None,
        }
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self.problems.as_slice() {
            [one] => one.help(),
            _ => None,
        }
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        match self.problems.as_slice() {
            [one] => one.source_code(),
            _ => Some(&*self.source),
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        match self.problems.as_slice() {
            [one] => one.labels(),
            _ => None,
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.problems.len() < 2 {
            return None;
        }
        Some(Box::new(self.problems.iter().map(|p| p as &dyn Diagnostic)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        let src = "{\n  \"a\": 1,\n  \"é\": 2\n}";
        for offset in [0, 4, 13, 17] {
            let (l, c) = line_column(src, offset);
            assert_eq!(offset_of(src, l, c), offset, "offset {offset}");
        }
        assert_eq!(line_column(src, 4), (2, 3));
    }
}
