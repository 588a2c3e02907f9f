//! A conservative parser for the command lines an agent hands to its shell tool.
//!
//! It finds every simple command a line may run — in pipelines, lists, subshells, groups,
//! `if`/`while`/`until`/`for` bodies, function bodies, command and process substitutions,
//! backticks — with its words and redirections, in the order they run. It does not expand
//! anything the shell would only know at run time: a word with a variable, a substitution, a
//! glob or a brace expansion is marked as computed ([`Word::value`] is `None` or
//! [`Word::expands`] is set), and callers decide what that means. What it cannot follow
//! (`case`, arithmetic `for`, a substitution inside a parameter expansion, a here-document that
//! runs commands) is a [`Script::problems`] entry or, for broken syntax, a [`ParseError`]:
//! never silently skipped.
//!
//! Bounded: nesting deeper than [`MAX_DEPTH`] is an error, and every loop consumes input.

use std::fmt;

/// Deepest nesting of substitutions, subshells and compound commands.
pub const MAX_DEPTH: usize = 64;

/// A word of a command, after quote removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word as written.
    pub raw: String,
    /// Its value when it is fixed at parse time; `None` when a variable, a command
    /// substitution or arithmetic makes it.
    pub value: Option<String>,
    /// An unquoted glob (`*`, `?`, `[`) or brace expansion: the shell may turn it into other
    /// words.
    pub expands: bool,
    /// Written without quotes, escapes or expansions (keywords and assignments must be).
    plain: bool,
}

impl Word {
    /// The value when it is exactly what the program receives.
    pub fn literal(&self) -> Option<&str> {
        if self.expands {
            None
        } else {
            self.value.as_deref()
        }
    }

    fn keyword(&self, k: &str) -> bool {
        self.plain && self.raw == k
    }
}

/// What a redirection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirOp {
    /// `<`: read a file.
    Read,
    /// `>`, `>|`, `&>`, `>&` to a file: create or truncate.
    Write,
    /// `>>`, `&>>`: append.
    Append,
    /// `<>`: open for reading and writing.
    ReadWrite,
    /// `>&N`, `<&N`, `>&-`: duplicate or close a descriptor; no file.
    Dup,
    /// `<<`, `<<-`: a here-document; no file.
    HereDoc,
    /// `<<<`: a here-string; no file.
    HereString,
}

/// A redirection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// What it does.
    pub op: RedirOp,
    /// The file (or descriptor, delimiter, string) it names.
    pub target: Word,
}

/// `NAME=value` before a command (or alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The variable.
    pub name: String,
    /// The value.
    pub value: Word,
}

/// A simple command: assignments, words, redirections. A compound command's own
/// redirections (`{ …; } > out`) appear as a simple command without words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Simple {
    /// Variable assignments before the command.
    pub assignments: Vec<Assignment>,
    /// The command name and its arguments.
    pub words: Vec<Word>,
    /// Redirections, in order.
    pub redirects: Vec<Redirect>,
}

/// Everything a command line may run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    /// Every simple command, substitutions before the command they are part of.
    pub commands: Vec<Simple>,
    /// Names of functions the line defines (their bodies are in `commands`).
    pub functions: Vec<String>,
    /// Constructs the parser did not follow.
    pub problems: Vec<String>,
}

/// Syntax the parser refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {offset})")]
pub struct ParseError {
    /// Where, in characters from the start of the line.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// Parse a command line. `home` is what an unquoted leading `~` stands for.
pub fn parse(line: &str, home: &str) -> Result<Script, ParseError> {
    let chars: Vec<char> = line.chars().collect();
    let mut p = Parser {
        s: &chars,
        i: 0,
        depth: 0,
        home,
        out: Script::default(),
        peeked: None,
        heredocs: Vec::new(),
    };
    p.list(End::Eof)?;
    Ok(p.out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(Word),
    /// An operator; redirection operators carry no descriptor number (it does not matter here).
    Op(&'static str),
    Newline,
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) => write!(f, "`{}`", w.raw),
            Tok::Op(o) => write!(f, "`{o}`"),
            Tok::Newline => f.write_str("a newline"),
            Tok::Eof => f.write_str("the end of the line"),
        }
    }
}

/// Longest first, so that `>>` is not read as `>`.
const OPERATORS: [&str; 21] = [
    "&>>", "<<<", "<<-", "&&", "||", ";;", "|&", "&>", ">>", ">|", ">&", "<<", "<&", "<>", "|",
    "&", ";", "(", ")", "<", ">",
];

fn redir_op(op: &str) -> Option<RedirOp> {
    Some(match op {
        "<" => RedirOp::Read,
        ">" | ">|" | "&>" => RedirOp::Write,
        ">>" | "&>>" => RedirOp::Append,
        "<>" => RedirOp::ReadWrite,
        ">&" | "<&" => RedirOp::Dup,
        "<<" | "<<-" => RedirOp::HereDoc,
        "<<<" => RedirOp::HereString,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy)]
enum End {
    Eof,
    Paren,
    Keywords(&'static [&'static str]),
}

struct Heredoc {
    delimiter: String,
    strip_tabs: bool,
    quoted: bool,
}

struct Parser<'a> {
    s: &'a [char],
    i: usize,
    depth: usize,
    home: &'a str,
    out: Script,
    peeked: Option<Tok>,
    heredocs: Vec<Heredoc>,
}

fn is_meta(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | '|' | '&' | ';' | '(' | ')' | '<' | '>'
    )
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Parser<'_> {
    fn err<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            offset: self.i,
            message: message.into(),
        })
    }

    fn at(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }

    fn starts_with(&self, text: &str) -> bool {
        text.chars().enumerate().all(|(k, c)| self.at(k) == Some(c))
    }

    fn deeper(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    // ---- tokens ----

    fn peek(&mut self) -> Result<&Tok, ParseError> {
        if self.peeked.is_none() {
            let t = self.lex()?;
            self.peeked = Some(t);
        }
        match &self.peeked {
            Some(t) => Ok(t),
            None => self.err("internal: no token"),
        }
    }

    fn next(&mut self) -> Result<Tok, ParseError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex(),
        }
    }

    fn lex(&mut self) -> Result<Tok, ParseError> {
        loop {
            match self.at(0) {
                Some(' ' | '\t') => self.i += 1,
                Some('\\') if self.at(1) == Some('\n') => self.i += 2,
                Some('#') => {
                    while self.at(0).is_some_and(|c| c != '\n') {
                        self.i += 1;
                    }
                }
                _ => break,
            }
        }
        let Some(c) = self.at(0) else {
            return Ok(Tok::Eof);
        };
        if c == '\n' {
            self.i += 1;
            self.read_heredocs()?;
            return Ok(Tok::Newline);
        }
        if (c == '<' || c == '>') && self.at(1) == Some('(') {
            return self.word().map(Tok::Word);
        }
        // A descriptor number glued to a redirection: `2>`, `0<&3`.
        let digits = self
            .s
            .iter()
            .skip(self.i)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits > 0
            && matches!(self.at(digits), Some('<' | '>'))
            && self.at(digits + 1) != Some('(')
        {
            self.i += digits;
        }
        if let Some(op) = OPERATORS.iter().find(|op| self.starts_with(op)) {
            self.i += op.chars().count();
            return Ok(Tok::Op(op));
        }
        self.word().map(Tok::Word)
    }

    fn read_heredocs(&mut self) -> Result<(), ParseError> {
        for doc in std::mem::take(&mut self.heredocs) {
            let mut body = String::new();
            while self.i < self.s.len() {
                let start = self.i;
                while self.at(0).is_some_and(|c| c != '\n') {
                    self.i += 1;
                }
                let line: String = self
                    .s
                    .get(start..self.i)
                    .unwrap_or_default()
                    .iter()
                    .collect();
                if self.at(0) == Some('\n') {
                    self.i += 1;
                }
                let line = if doc.strip_tabs {
                    line.trim_start_matches('\t').to_owned()
                } else {
                    line
                };
                if line == doc.delimiter {
                    break;
                }
                body.push_str(&line);
                body.push('\n');
            }
            if !doc.quoted && (body.contains("$(") || body.contains('`')) {
                self.out.problems.push(format!(
                    "a here-document (`<<{}`) runs a command substitution",
                    doc.delimiter
                ));
            }
        }
        Ok(())
    }

    /// One word, from the current position to the next unquoted metacharacter.
    fn word(&mut self) -> Result<Word, ParseError> {
        let start = self.i;
        let mut text = String::new();
        let mut dynamic = false;
        let mut expands = false;
        let mut plain = true;
        if self.at(0) == Some('~') {
            let len = self
                .s
                .iter()
                .skip(self.i + 1)
                .take_while(|&&c| !is_meta(c) && c != '/')
                .count();
            if len == 0 {
                text.push_str(self.home);
                self.i += 1;
            } else {
                dynamic = true;
            }
            plain = false;
        }
        while let Some(c) = self.at(0) {
            if is_meta(c) {
                if (c == '<' || c == '>') && self.at(1) == Some('(') && self.i == start {
                    self.i += 2;
                    self.substitution(End::Paren)?;
                    dynamic = true;
                    plain = false;
                    continue;
                }
                break;
            }
            match c {
                '\\' => {
                    plain = false;
                    match self.at(1) {
                        Some('\n') => self.i += 2,
                        Some(n) => {
                            text.push(n);
                            self.i += 2;
                        }
                        None => return self.err("the line ends with a backslash"),
                    }
                }
                '\'' => {
                    plain = false;
                    self.i += 1;
                    loop {
                        match self.at(0) {
                            Some('\'') => break,
                            Some(q) => text.push(q),
                            None => return self.err("a single quote is not closed"),
                        }
                        self.i += 1;
                    }
                    self.i += 1;
                }
                '"' => {
                    plain = false;
                    self.i += 1;
                    dynamic |= self.double_quoted(&mut text)?;
                }
                '$' => {
                    plain = false;
                    self.i += 1;
                    match self.at(0) {
                        Some('\'') => {
                            self.i += 1;
                            self.ansi_c(&mut text)?;
                        }
                        Some('"') => {
                            self.i += 1;
                            dynamic |= self.double_quoted(&mut text)?;
                        }
                        _ => dynamic |= self.dollar(&mut text)?,
                    }
                }
                '`' => {
                    plain = false;
                    self.i += 1;
                    self.backquoted()?;
                    dynamic = true;
                }
                '*' | '?' | '[' => {
                    expands = true;
                    text.push(c);
                    self.i += 1;
                }
                '{' => {
                    // A brace expansion needs a comma or `..` before the closing brace.
                    let rest: String = self
                        .s
                        .iter()
                        .skip(self.i)
                        .take_while(|&&c| !is_meta(c))
                        .collect();
                    if let Some(close) = rest.find('}') {
                        let inner = rest.get(1..close).unwrap_or_default();
                        if inner.contains(',') || inner.contains("..") {
                            expands = true;
                        }
                    }
                    text.push(c);
                    self.i += 1;
                }
                _ => {
                    text.push(c);
                    self.i += 1;
                }
            }
        }
        let raw: String = self
            .s
            .get(start..self.i)
            .unwrap_or_default()
            .iter()
            .collect();
        Ok(Word {
            raw,
            value: (!dynamic).then_some(text),
            expands,
            plain,
        })
    }

    /// After an opening `"`; through the closing one. Returns whether an expansion occurred.
    fn double_quoted(&mut self, text: &mut String) -> Result<bool, ParseError> {
        let mut dynamic = false;
        loop {
            match self.at(0) {
                None => return self.err("a double quote is not closed"),
                Some('"') => {
                    self.i += 1;
                    return Ok(dynamic);
                }
                Some('\\') => {
                    match self.at(1) {
                        Some('\n') => {}
                        Some(n @ ('$' | '`' | '"' | '\\')) => text.push(n),
                        Some(n) => {
                            text.push('\\');
                            text.push(n);
                        }
                        None => return self.err("a double quote is not closed"),
                    }
                    self.i += 2;
                }
                Some('$') => {
                    self.i += 1;
                    dynamic |= self.dollar(text)?;
                }
                Some('`') => {
                    self.i += 1;
                    self.backquoted()?;
                    dynamic = true;
                }
                Some(c) => {
                    text.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// After a `$` (not `$'` or `$"`). Returns whether the text is computed at run time.
    fn dollar(&mut self, text: &mut String) -> Result<bool, ParseError> {
        match self.at(0) {
            Some('(') if self.at(1) == Some('(') => {
                self.i += 2;
                let inner = self.balanced('(', ')', 2)?;
                if inner.contains("$(") || inner.contains('`') || inner.contains('[') {
                    self.out.problems.push(format!(
                        "arithmetic `$(({inner}))` may run commands (a substitution or an array subscript)"
                    ));
                }
                Ok(true)
            }
            Some('(') => {
                self.i += 1;
                self.substitution(End::Paren)?;
                Ok(true)
            }
            Some('{') => {
                self.i += 1;
                let inner = self.balanced('{', '}', 1)?;
                if inner.contains("$(") || inner.contains('`') {
                    self.out.problems.push(format!(
                        "the parameter expansion `${{{inner}}}` runs a command substitution"
                    ));
                }
                Ok(true)
            }
            Some(c) if is_name_start(c) => {
                while self.at(0).is_some_and(is_name) {
                    self.i += 1;
                }
                Ok(true)
            }
            Some(c) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
                self.i += 1;
                Ok(true)
            }
            _ => {
                text.push('$');
                Ok(false)
            }
        }
    }

    /// Text up to the `close` that balances (`open` already consumed `depth` times); the
    /// closing characters are consumed. Quotes inside are skipped over.
    fn balanced(&mut self, open: char, close: char, depth: usize) -> Result<String, ParseError> {
        let mut level = depth;
        let start = self.i;
        let mut quote: Option<char> = None;
        while let Some(c) = self.at(0) {
            self.i += 1;
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), '\\') | (None, '\\') => self.i += 1,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, c) if c == open => level += 1,
                (None, c) if c == close => {
                    level -= 1;
                    if level == 0 || (depth == 2 && level == 1 && self.at(0) == Some(close)) {
                        let end = self.i - 1;
                        if level == 1 {
                            self.i += 1;
                        }
                        return Ok(self.s.get(start..end).unwrap_or_default().iter().collect());
                    }
                }
                (None, _) => {}
            }
        }
        self.err(format!("`{open}` is not closed by `{close}`"))
    }

    /// After `$(`, `<(` or `>(`: the commands inside, through the closing parenthesis.
    fn substitution(&mut self, end: End) -> Result<(), ParseError> {
        self.deeper()?;
        // The lookahead belongs to the outer word: there is none while a word is being read.
        self.list(end)?;
        match self.next()? {
            Tok::Op(")") => {}
            t => return self.err(format!("expected `)` to close a substitution, found {t}")),
        }
        self.depth -= 1;
        Ok(())
    }

    /// After an opening backquote: the commands inside, parsed on their own.
    fn backquoted(&mut self) -> Result<(), ParseError> {
        let mut inner = String::new();
        loop {
            match self.at(0) {
                None => return self.err("a backquote is not closed"),
                Some('`') => {
                    self.i += 1;
                    break;
                }
                Some('\\') if matches!(self.at(1), Some('`' | '$' | '\\')) => {
                    if let Some(n) = self.at(1) {
                        inner.push(n);
                    }
                    self.i += 2;
                }
                Some(c) => {
                    inner.push(c);
                    self.i += 1;
                }
            }
        }
        self.deeper()?;
        let chars: Vec<char> = inner.chars().collect();
        let mut sub = Parser {
            s: &chars,
            i: 0,
            depth: self.depth,
            home: self.home,
            out: std::mem::take(&mut self.out),
            peeked: None,
            heredocs: Vec::new(),
        };
        let result = sub.list(End::Eof);
        self.out = std::mem::take(&mut sub.out);
        result.map_err(|e| ParseError {
            offset: self.i,
            message: format!("inside backquotes: {}", e.message),
        })?;
        self.depth -= 1;
        Ok(())
    }

    /// After `$'`: ANSI-C quoting, through the closing quote.
    fn ansi_c(&mut self, text: &mut String) -> Result<(), ParseError> {
        loop {
            let Some(c) = self.at(0) else {
                return self.err("a `$'` quote is not closed");
            };
            self.i += 1;
            match c {
                '\'' => return Ok(()),
                '\\' => {
                    let Some(e) = self.at(0) else {
                        return self.err("a `$'` quote is not closed");
                    };
                    self.i += 1;
                    let simple = match e {
                        'a' => Some('\u{7}'),
                        'b' => Some('\u{8}'),
                        'e' | 'E' => Some('\u{1b}'),
                        'f' => Some('\u{c}'),
                        'n' => Some('\n'),
                        'r' => Some('\r'),
                        't' => Some('\t'),
                        'v' => Some('\u{b}'),
                        '\\' | '\'' | '"' | '?' => Some(e),
                        _ => None,
                    };
                    if let Some(s) = simple {
                        text.push(s);
                        continue;
                    }
                    let (radix, max) = match e {
                        '0'..='7' => {
                            self.i -= 1;
                            (8, 3)
                        }
                        'x' => (16, 2),
                        'u' => (16, 4),
                        'U' => (16, 8),
                        'c' => {
                            let Some(k) = self.at(0) else {
                                return self.err("a `$'` quote is not closed");
                            };
                            self.i += 1;
                            text.push(char::from((k as u32 & 0x1f) as u8));
                            continue;
                        }
                        other => {
                            text.push('\\');
                            text.push(other);
                            continue;
                        }
                    };
                    let digits: String = self
                        .s
                        .iter()
                        .skip(self.i)
                        .take(max)
                        .take_while(|c| c.is_digit(radix))
                        .collect();
                    self.i += digits.chars().count();
                    match u32::from_str_radix(&digits, radix)
                        .ok()
                        .and_then(char::from_u32)
                    {
                        Some(ch) => text.push(ch),
                        None => {
                            text.push('\\');
                            text.push(e);
                        }
                    }
                }
                c => text.push(c),
            }
        }
    }

    // ---- grammar ----

    fn at_end(&mut self, end: End) -> Result<bool, ParseError> {
        Ok(match (self.peek()?, end) {
            (Tok::Eof, _) => true,
            (Tok::Op(")"), End::Paren) => true,
            (Tok::Word(w), End::Keywords(ks)) => ks.iter().any(|k| w.keyword(k)),
            _ => false,
        })
    }

    fn list(&mut self, end: End) -> Result<(), ParseError> {
        loop {
            while *self.peek()? == Tok::Newline {
                self.next()?;
            }
            if self.at_end(end)? {
                if *self.peek()? == Tok::Eof && !matches!(end, End::Eof) {
                    return self.err(match end {
                        End::Paren => "a `(` is not closed".to_owned(),
                        End::Keywords(ks) => format!("expected `{}`", ks.join("` or `")),
                        End::Eof => String::new(),
                    });
                }
                return Ok(());
            }
            self.and_or()?;
            match self.peek()?.clone() {
                Tok::Op(";" | "&") | Tok::Newline => {
                    self.next()?;
                }
                _ if self.at_end(end)? => {}
                t => return self.err(format!("unexpected {t}")),
            }
        }
    }

    fn and_or(&mut self) -> Result<(), ParseError> {
        self.pipeline()?;
        while matches!(self.peek()?, Tok::Op("&&" | "||")) {
            self.next()?;
            while *self.peek()? == Tok::Newline {
                self.next()?;
            }
            self.pipeline()?;
        }
        Ok(())
    }

    fn pipeline(&mut self) -> Result<(), ParseError> {
        loop {
            match self.peek()? {
                Tok::Word(w) if w.keyword("!") => {
                    self.next()?;
                }
                Tok::Word(w) if w.keyword("time") => {
                    self.next()?;
                    if matches!(self.peek()?, Tok::Word(w) if w.keyword("-p")) {
                        self.next()?;
                    }
                }
                _ => break,
            }
        }
        self.command()?;
        while matches!(self.peek()?, Tok::Op("|" | "|&")) {
            self.next()?;
            while *self.peek()? == Tok::Newline {
                self.next()?;
            }
            self.command()?;
        }
        Ok(())
    }

    fn expect_keyword(&mut self, k: &str) -> Result<(), ParseError> {
        match self.next()? {
            Tok::Word(w) if w.keyword(k) => Ok(()),
            t => self.err(format!("expected `{k}`, found {t}")),
        }
    }

    fn command(&mut self) -> Result<(), ParseError> {
        self.deeper()?;
        let first = self.peek()?.clone();
        match first {
            Tok::Op("(") => {
                self.next()?;
                self.list(End::Paren)?;
                self.next()?;
                self.trailing_redirects()?;
            }
            Tok::Word(w) if w.plain => match w.raw.as_str() {
                "{" => {
                    self.next()?;
                    self.list(End::Keywords(&["}"]))?;
                    self.expect_keyword("}")?;
                    self.trailing_redirects()?;
                }
                "if" => {
                    self.next()?;
                    self.list(End::Keywords(&["then"]))?;
                    self.expect_keyword("then")?;
                    loop {
                        self.list(End::Keywords(&["elif", "else", "fi"]))?;
                        match self.next()? {
                            Tok::Word(w) if w.keyword("elif") => {
                                self.list(End::Keywords(&["then"]))?;
                                self.expect_keyword("then")?;
                            }
                            Tok::Word(w) if w.keyword("else") => {
                                self.list(End::Keywords(&["fi"]))?;
                                self.expect_keyword("fi")?;
                                break;
                            }
                            _ => break,
                        }
                    }
                    self.trailing_redirects()?;
                }
                "while" | "until" => {
                    self.next()?;
                    self.list(End::Keywords(&["do"]))?;
                    self.expect_keyword("do")?;
                    self.list(End::Keywords(&["done"]))?;
                    self.expect_keyword("done")?;
                    self.trailing_redirects()?;
                }
                "for" | "select" => self.for_loop()?,
                "[[" => {
                    self.next()?;
                    loop {
                        match self.next()? {
                            Tok::Word(w) if w.keyword("]]") => break,
                            Tok::Eof => return self.err("`[[` is not closed by `]]`"),
                            _ => {}
                        }
                    }
                    self.trailing_redirects()?;
                }
                "function" => {
                    self.next()?;
                    let name = match self.next()? {
                        Tok::Word(n) => n.raw,
                        t => return self.err(format!("expected a function name, found {t}")),
                    };
                    if *self.peek()? == Tok::Op("(") {
                        self.next()?;
                        self.expect_op(")")?;
                    }
                    self.function_body(name)?;
                }
                "case" | "coproc" => {
                    return self.err(format!("`{}` is not supported", w.raw));
                }
                "then" | "elif" | "else" | "fi" | "do" | "done" | "}" | "]]" | "esac" | "in" => {
                    return self.err(format!("unexpected `{}`", w.raw));
                }
                _ => self.simple()?,
            },
            Tok::Word(_) => self.simple()?,
            Tok::Op(op) if redir_op(op).is_some() => self.simple()?,
            t => return self.err(format!("expected a command, found {t}")),
        }
        self.depth -= 1;
        Ok(())
    }

    fn expect_op(&mut self, op: &str) -> Result<(), ParseError> {
        match self.next()? {
            Tok::Op(o) if o == op => Ok(()),
            t => self.err(format!("expected `{op}`, found {t}")),
        }
    }

    fn function_body(&mut self, name: String) -> Result<(), ParseError> {
        while *self.peek()? == Tok::Newline {
            self.next()?;
        }
        self.out.functions.push(name);
        self.command()
    }

    fn for_loop(&mut self) -> Result<(), ParseError> {
        self.next()?;
        match self.next()? {
            Tok::Word(w) if w.plain && w.raw.chars().all(is_name) => {}
            Tok::Op("(") => return self.err("arithmetic `for ((…))` is not supported"),
            t => return self.err(format!("expected a variable name after `for`, found {t}")),
        }
        while *self.peek()? == Tok::Newline {
            self.next()?;
        }
        if matches!(self.peek()?, Tok::Word(w) if w.keyword("in")) {
            self.next()?;
            while let Tok::Word(_) = self.peek()? {
                self.next()?;
            }
        }
        if matches!(self.peek()?, Tok::Op(";") | Tok::Newline) {
            self.next()?;
        }
        while *self.peek()? == Tok::Newline {
            self.next()?;
        }
        self.expect_keyword("do")?;
        self.list(End::Keywords(&["done"]))?;
        self.expect_keyword("done")?;
        self.trailing_redirects()
    }

    fn trailing_redirects(&mut self) -> Result<(), ParseError> {
        let mut cmd = Simple::default();
        while let Tok::Op(op) = self.peek()? {
            let Some(kind) = redir_op(op) else { break };
            self.next()?;
            let r = self.redirect(kind)?;
            cmd.redirects.push(r);
        }
        if !cmd.redirects.is_empty() {
            self.out.commands.push(cmd);
        }
        Ok(())
    }

    fn redirect(&mut self, op: RedirOp) -> Result<Redirect, ParseError> {
        let target = match self.next()? {
            Tok::Word(w) => w,
            t => return self.err(format!("a redirection needs a target, found {t}")),
        };
        let op = match op {
            // `>& file` writes a file; `>&2`, `>&-` duplicate or close.
            RedirOp::Dup
                if !target
                    .literal()
                    .is_some_and(|t| t == "-" || t.chars().all(|c| c.is_ascii_digit())) =>
            {
                RedirOp::Write
            }
            RedirOp::HereDoc => {
                let quoted = target.raw.contains(['\'', '"', '\\']);
                self.heredocs.push(Heredoc {
                    delimiter: target.value.clone().unwrap_or_else(|| target.raw.clone()),
                    strip_tabs: false,
                    quoted,
                });
                op
            }
            other => other,
        };
        Ok(Redirect { op, target })
    }

    fn simple(&mut self) -> Result<(), ParseError> {
        let mut cmd = Simple::default();
        loop {
            match self.peek()?.clone() {
                Tok::Word(w) => {
                    self.next()?;
                    if cmd.words.is_empty() {
                        if let Some(a) = assignment(&w) {
                            cmd.assignments.push(a);
                            continue;
                        }
                        if *self.peek()? == Tok::Op("(") {
                            self.next()?;
                            self.expect_op(")")?;
                            return self.function_body(w.raw);
                        }
                    }
                    cmd.words.push(w);
                }
                Tok::Op(op) => {
                    let Some(kind) = redir_op(op) else { break };
                    let strip = op == "<<-";
                    self.next()?;
                    let r = self.redirect(kind)?;
                    if strip && let Some(last) = self.heredocs.last_mut() {
                        last.strip_tabs = true;
                    }
                    cmd.redirects.push(r);
                }
                _ => break,
            }
        }
        self.out.commands.push(cmd);
        Ok(())
    }
}

/// `NAME=value`, when the name part is written plainly.
fn assignment(w: &Word) -> Option<Assignment> {
    let eq = w.raw.find('=')?;
    let name = w.raw.get(..eq)?;
    let name = name.strip_suffix('+').unwrap_or(name);
    let mut chars = name.chars();
    if !chars.next().is_some_and(is_name_start) || !chars.all(is_name) {
        return None;
    }
    let value = Word {
        raw: w.raw.get(eq + 1..).unwrap_or_default().to_owned(),
        value: w
            .value
            .as_deref()
            .and_then(|v| v.split_once('='))
            .map(|(_, v)| v.to_owned()),
        expands: false,
        plain: false,
    };
    Some(Assignment {
        name: name.to_owned(),
        value,
    })
}

#[cfg(test)]
mod tests;
