//! What a shell command line asks of the policy decision point.
//!
//! Every simple command the [`shell`] parser finds becomes an `exec` request for the program it
//! runs (found on `PATH` by the caller's [`World`]) with its arguments; redirections become
//! `read` and `write` requests; an argument naming a file that exists (or `@file`, as curl
//! reads it) becomes a `read` request. Wrappers (`env`, `sudo`, `nice`, `timeout`, `xargs`,
//! `find -exec`, `bash -c`, `eval`, …) are requests themselves and so is the command they run.
//! `cd` moves the directory later relative paths are resolved against; since a failed `cd` or
//! a subshell can keep the old one, paths are checked against every directory the line may be
//! in.
//!
//! Whatever cannot be known before the line runs is said, never guessed: a computed command
//! name, a `source`d file, a variable that changes which program runs (`PATH=`,
//! `LD_PRELOAD=`), a directory only run time knows. These are [`Plan::unresolved`]; the hook
//! asks or denies on them. Arguments only run time knows are passed as
//! [`UNKNOWN_ARG`]/[`UNKNOWN_ARGS`], which only `*`/`**` argument patterns cover.

use cordon_policy::pdp::{Request, UNKNOWN_ARG, UNKNOWN_ARGS};

use crate::shell::{self, RedirOp, Word};
use crate::{Check, World};

/// How deep `eval`, `bash -c` and wrappers may nest.
const MAX_NESTING: usize = 8;

/// What a command line needs decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Requests, each with what in the line it is for.
    pub checks: Vec<Check>,
    /// What cannot be known before the line runs.
    pub unresolved: Vec<String>,
}

/// The requests for a command line run in `cwd`.
pub fn plan(line: &str, cwd: &str, world: &dyn World) -> Plan {
    let mut a = Analysis {
        world,
        cwds: vec![cwd.to_owned()],
        cwd_known: true,
        functions: Vec::new(),
        plan: Plan::default(),
    };
    a.line(line, 0);
    a.plan
}

/// An argument as the program will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    /// Known now.
    Lit(String),
    /// One argument only run time knows.
    One,
    /// Any number of arguments only run time knows.
    Many,
}

impl Arg {
    fn of(w: &Word) -> Self {
        match w.literal() {
            Some(v) if !v.contains('\0') => Arg::Lit(v.to_owned()),
            // A computed word inside double quotes stays one argument; unquoted, it is split.
            None if !w.expands && w.raw.starts_with('"') && w.raw.ends_with('"') => Arg::One,
            _ => Arg::Many,
        }
    }

    fn lit(&self) -> Option<&str> {
        match self {
            Arg::Lit(s) => Some(s),
            _ => None,
        }
    }

    fn request_form(&self) -> String {
        match self {
            Arg::Lit(s) => s.clone(),
            Arg::One => UNKNOWN_ARG.to_owned(),
            Arg::Many => UNKNOWN_ARGS.to_owned(),
        }
    }
}

fn show(args: &[Arg]) -> String {
    args.iter()
        .map(|a| match a {
            Arg::Lit(s) if s.is_empty() || s.contains(char::is_whitespace) => format!("'{s}'"),
            Arg::Lit(s) => s.clone(),
            Arg::One | Arg::Many => "…".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Variables that change which program a command runs, or what it loads.
fn steers_execution(name: &str) -> bool {
    matches!(
        name,
        "PATH"
            | "BASH_ENV"
            | "ENV"
            | "IFS"
            | "CDPATH"
            | "SHELLOPTS"
            | "BASHOPTS"
            | "PROMPT_COMMAND"
            | "PS4"
    ) || name.starts_with("LD_")
        || name.starts_with("BASH_FUNC_")
}

/// Shell builtins, by what they mean here.
enum Builtin {
    /// Touches no file and runs nothing (redirections are still checked).
    Inert,
    /// Sets variables: checked for ones that steer execution.
    Assigns,
    /// Changes the directory.
    Cd,
    /// Leaves the directory unknown.
    PopDir,
    /// Runs its arguments as a command line.
    Eval,
    /// Runs the command line in its first argument (later, on a signal).
    Trap,
    /// Runs the command in its arguments.
    Runs,
    /// Runs commands the hook cannot see.
    Opaque,
}

fn builtin(name: &str) -> Option<Builtin> {
    Some(match name {
        ":" | "true" | "false" | "echo" | "printf" | "test" | "[" | "pwd" | "shift" | "read"
        | "wait" | "jobs" | "return" | "exit" | "break" | "continue" | "type" | "hash"
        | "umask" | "shopt" | "getopts" | "let" | "history" | "alias" | "unalias" | "help"
        | "times" | "dirs" | "bg" | "fg" | "disown" | "caller" | "logout" | "ulimit" | "kill"
        | "set" | "unset" => Builtin::Inert,
        "export" | "declare" | "typeset" | "local" | "readonly" => Builtin::Assigns,
        "cd" | "pushd" => Builtin::Cd,
        "popd" => Builtin::PopDir,
        "eval" => Builtin::Eval,
        "trap" => Builtin::Trap,
        "exec" | "command" | "builtin" => Builtin::Runs,
        "source" | "." | "enable" | "fc" | "mapfile" | "readarray" | "complete" | "compgen"
        | "bind" | "coproc" => Builtin::Opaque,
        _ => return None,
    })
}

/// Programs that run another command: options that take a value, how many positional
/// arguments come before the command, whether `NAME=value` may precede it.
struct Wrapper {
    valued: &'static [&'static str],
    positional: usize,
    assignments: bool,
}

fn wrapper(program: &str) -> Option<Wrapper> {
    let w = |valued, positional, assignments| Wrapper {
        valued,
        positional,
        assignments,
    };
    Some(match program {
        "env" => w(
            &["-u", "--unset", "-C", "--chdir", "-S", "--split-string"],
            0,
            true,
        ),
        "sudo" => w(
            &[
                "-u", "-g", "-h", "-p", "-C", "-D", "-R", "-T", "-U", "-r", "-t", "--user",
                "--group",
            ],
            0,
            true,
        ),
        "doas" => w(&["-u", "-C"], 0, false),
        "nice" => w(&["-n", "--adjustment"], 0, false),
        "nohup" | "setsid" => w(&[], 0, false),
        "timeout" => w(&["-s", "--signal", "-k", "--kill-after"], 1, false),
        "stdbuf" => w(
            &["-i", "-o", "-e", "--input", "--output", "--error"],
            0,
            false,
        ),
        "ionice" => w(
            &["-c", "-n", "-p", "-P", "-u", "--class", "--classdata"],
            0,
            false,
        ),
        "time" => w(&["-f", "--format", "-o", "--output"], 0, false),
        "xargs" => w(
            &[
                "-a",
                "--arg-file",
                "-d",
                "--delimiter",
                "-E",
                "-I",
                "-L",
                "-n",
                "--max-args",
                "-P",
                "--max-procs",
                "-s",
                "--max-chars",
                "--process-slot-var",
            ],
            0,
            false,
        ),
        _ => return None,
    })
}

fn is_shell(program: &str) -> bool {
    matches!(
        program,
        "sh" | "bash" | "dash" | "zsh" | "ksh" | "mksh" | "ash" | "busybox"
    )
}

struct Analysis<'a> {
    world: &'a dyn World,
    /// Every directory the line may be in at this point.
    cwds: Vec<String>,
    /// False once a `cd` went somewhere only run time knows.
    cwd_known: bool,
    functions: Vec<String>,
    plan: Plan,
}

impl Analysis<'_> {
    fn unresolved(&mut self, why: String) {
        if !self.plan.unresolved.contains(&why) {
            self.plan.unresolved.push(why);
        }
    }

    fn line(&mut self, line: &str, depth: usize) {
        if depth > MAX_NESTING {
            self.unresolved(format!("commands nest deeper than {MAX_NESTING} levels"));
            return;
        }
        let script = match shell::parse(line, self.world.home()) {
            Ok(s) => s,
            Err(e) => {
                self.unresolved(format!("the command line cannot be parsed: {e}"));
                return;
            }
        };
        for p in script.problems {
            self.unresolved(p);
        }
        self.functions.extend(script.functions);
        for cmd in &script.commands {
            for a in &cmd.assignments {
                if steers_execution(&a.name) {
                    self.unresolved(format!(
                        "`{}=` changes which program runs or what it loads",
                        a.name
                    ));
                }
            }
            for r in &cmd.redirects {
                let (read, write) = match r.op {
                    RedirOp::Read => (true, false),
                    RedirOp::Write | RedirOp::Append => (false, true),
                    RedirOp::ReadWrite => (true, true),
                    RedirOp::Dup | RedirOp::HereDoc | RedirOp::HereString => continue,
                };
                let what = format!("the redirection to `{}`", r.target.raw);
                match Arg::of(&r.target) {
                    Arg::Lit(path) if is_stream(&path) => {}
                    Arg::Lit(path) => {
                        if read {
                            self.path(&path, false, &what);
                        }
                        if write {
                            self.path(&path, true, &what);
                        }
                    }
                    Arg::One | Arg::Many => {
                        self.unresolved(format!("{what} names a file only run time knows"));
                    }
                }
            }
            let args: Vec<Arg> = cmd.words.iter().map(Arg::of).collect();
            if !args.is_empty() {
                self.command(&args, depth);
            }
        }
    }

    /// A `read` or `write` request for a path as written, from every directory the line may be
    /// in.
    fn path(&mut self, path: &str, write: bool, what: &str) {
        let resolved: Vec<String> = if path.starts_with('/') {
            vec![path.to_owned()]
        } else if !self.cwd_known {
            self.unresolved(format!(
                "{what}: `{path}` is relative to a directory only run time knows"
            ));
            return;
        } else {
            self.cwds.iter().map(|c| format!("{c}/{path}")).collect()
        };
        for p in resolved {
            let request = if write {
                Request::write(&p)
            } else {
                Request::read(&p)
            };
            match request {
                Ok(request) => self.plan.checks.push(Check {
                    request,
                    what: what.to_owned(),
                }),
                Err(e) => self.unresolved(format!("{what}: {e}")),
            }
        }
    }

    fn command(&mut self, args: &[Arg], depth: usize) {
        let Some((name, rest)) = args.split_first() else {
            return;
        };
        let Some(name) = name.lit() else {
            self.unresolved(format!(
                "the command `{}` runs a program only run time knows",
                show(args)
            ));
            return;
        };
        if self.functions.iter().any(|f| f == name) {
            // Its body is among the commands checked.
            return;
        }
        if !name.contains('/') {
            match builtin(name) {
                Some(b) => return self.builtin(name, b, rest, depth),
                None if name == "[[" || name == "]]" => return,
                None => {}
            }
        }
        self.program(name, rest, depth);
    }

    fn builtin(&mut self, name: &str, b: Builtin, rest: &[Arg], depth: usize) {
        match b {
            Builtin::Inert => {}
            Builtin::Assigns => {
                for a in rest {
                    match a {
                        Arg::Lit(s) => {
                            let var = s.split('=').next().unwrap_or_default();
                            if s.contains('=') && steers_execution(var) {
                                self.unresolved(format!(
                                    "`{name} {var}=…` changes which program runs or what it loads"
                                ));
                            }
                        }
                        Arg::One | Arg::Many => {
                            self.unresolved(format!("`{name}` sets a variable only run time knows"))
                        }
                    }
                }
            }
            Builtin::Cd => {
                let target = rest
                    .iter()
                    .find(|a| a.lit().is_none_or(|s| !s.starts_with('-')));
                match target {
                    None => {
                        let home = self.world.home().to_owned();
                        self.cwds.push(home);
                    }
                    Some(Arg::Lit(dir)) => {
                        let dirs: Vec<String> = if dir.starts_with('/') {
                            vec![dir.clone()]
                        } else {
                            self.cwds.iter().map(|c| format!("{c}/{dir}")).collect()
                        };
                        for d in dirs {
                            match cordon_policy::path::normalize(&d) {
                                Ok(d) if !self.cwds.contains(&d) => self.cwds.push(d),
                                Ok(_) => {}
                                Err(_) => self.cwd_known = false,
                            }
                        }
                    }
                    Some(_) => self.cwd_known = false,
                }
            }
            Builtin::PopDir => self.cwd_known = false,
            Builtin::Eval => match literal_line(rest) {
                Some(line) => self.line(&line, depth + 1),
                None => self.unresolved(format!(
                    "`eval {}` runs a command line only run time knows",
                    show(rest)
                )),
            },
            Builtin::Trap => match rest.first() {
                Some(Arg::Lit(line)) => self.line(line, depth + 1),
                Some(_) => self.unresolved("`trap` runs a command line only run time knows".into()),
                None => {}
            },
            Builtin::Runs => {
                let rest: Vec<Arg> = match name {
                    // `command -v`/`-V` only look a name up.
                    "command"
                        if rest
                            .first()
                            .and_then(Arg::lit)
                            .is_some_and(|o| o == "-v" || o == "-V") =>
                    {
                        return;
                    }
                    "exec" => skip_options(rest, &["-a"]).to_vec(),
                    "command" => skip_options(rest, &[]).to_vec(),
                    _ => rest.to_vec(),
                };
                if depth >= MAX_NESTING {
                    self.unresolved(format!("commands nest deeper than {MAX_NESTING} levels"));
                } else {
                    self.command(&rest, depth + 1);
                }
            }
            Builtin::Opaque => {
                if (name == "source" || name == ".")
                    && let Some(Arg::Lit(file)) = rest.first()
                {
                    self.path(file, false, &format!("`{name} {file}`"));
                }
                self.unresolved(format!("`{name}` runs commands the hook cannot see"));
            }
        }
    }

    fn program(&mut self, name: &str, rest: &[Arg], depth: usize) {
        let resolved = if name.contains('/') {
            if name.starts_with('/') {
                vec![name.to_owned()]
            } else if self.cwd_known {
                self.cwds.iter().map(|c| format!("{c}/{name}")).collect()
            } else {
                self.unresolved(format!(
                    "`{name}` is relative to a directory only run time knows"
                ));
                return;
            }
        } else {
            match self.world.which(name) {
                Some(p) => vec![p],
                None => {
                    self.unresolved(format!("`{name}` is not a program on PATH"));
                    return;
                }
            }
        };
        let argv: Vec<String> = rest.iter().map(Arg::request_form).collect();
        let what = format!(
            "the command `{}`",
            show(&[&[Arg::Lit(name.to_owned())], rest].concat())
        );
        for path in &resolved {
            match Request::exec(path, argv.clone()) {
                Ok(request) => self.plan.checks.push(Check {
                    request,
                    what: what.clone(),
                }),
                Err(e) => self.unresolved(format!("{what}: {e}")),
            }
        }
        // Arguments that name existing files are read (or, with `@`, read by curl and others).
        for a in rest {
            let Arg::Lit(s) = a else { continue };
            let candidate = s.strip_prefix('@').unwrap_or(s);
            if candidate.is_empty() || candidate.starts_with('-') || candidate.contains('\0') {
                continue;
            }
            let exists = if candidate.starts_with('/') {
                self.world.exists(candidate)
            } else {
                self.cwd_known
                    && self
                        .cwds
                        .iter()
                        .any(|c| self.world.exists(&format!("{c}/{candidate}")))
            };
            if exists {
                self.path(candidate, false, &format!("{what} (argument `{s}`)"));
            }
        }
        let base = resolved
            .first()
            .map(|p| p.rsplit('/').next().unwrap_or_default().to_owned())
            .unwrap_or_default();
        if depth >= MAX_NESTING {
            self.unresolved(format!("commands nest deeper than {MAX_NESTING} levels"));
            return;
        }
        if is_shell(&base) {
            self.shell(&base, rest, depth);
        } else if base == "find" {
            self.find_exec(rest, depth);
        } else if let Some(w) = wrapper(&base) {
            self.wrapped(&base, &w, rest, depth);
        }
    }

    /// `bash -c 'line'`: the line's commands.
    fn shell(&mut self, base: &str, rest: &[Arg], depth: usize) {
        let mut i = 0;
        while let Some(a) = rest.get(i) {
            match a {
                Arg::Lit(o)
                    if o == "-c"
                        || (o.starts_with('-') && !o.starts_with("--") && o.contains('c')) =>
                {
                    match rest.get(i + 1) {
                        Some(Arg::Lit(line)) => self.line(line, depth + 1),
                        _ => self.unresolved(format!(
                            "`{base} -c` runs a command line only run time knows"
                        )),
                    }
                    return;
                }
                Arg::Lit(o) if o.starts_with('-') || o.starts_with('+') => i += 1,
                Arg::Lit(_) => return,
                Arg::One | Arg::Many => {
                    self.unresolved(format!("`{base}` has options only run time knows"));
                    return;
                }
            }
        }
    }

    /// `find … -exec cmd {} ;`: the command, with `{}` as an argument only run time knows.
    fn find_exec(&mut self, rest: &[Arg], depth: usize) {
        let mut i = 0;
        while let Some(a) = rest.get(i) {
            i += 1;
            if !matches!(a.lit(), Some("-exec" | "-execdir" | "-ok" | "-okdir")) {
                continue;
            }
            let mut inner = Vec::new();
            while let Some(b) = rest.get(i) {
                i += 1;
                match b.lit() {
                    Some(";" | "+") => break,
                    Some(s) if s.contains("{}") => inner.push(Arg::One),
                    _ => inner.push(b.clone()),
                }
            }
            self.command(&inner, depth + 1);
        }
    }

    fn wrapped(&mut self, base: &str, w: &Wrapper, rest: &[Arg], depth: usize) {
        let mut i = 0;
        let mut positional = w.positional;
        let mut replace: Option<String> = None;
        while let Some(a) = rest.get(i) {
            let Arg::Lit(s) = a else {
                self.unresolved(format!("`{base}` has arguments only run time knows"));
                return;
            };
            if s == "--" {
                i += 1;
                break;
            }
            if s.starts_with('-') && s.len() > 1 {
                let opt = s.split('=').next().unwrap_or_default();
                if base == "env" && matches!(opt, "-S" | "--split-string") {
                    self.unresolved(
                        "`env -S` splits a string into a command the hook does not follow".into(),
                    );
                    return;
                }
                if base == "env" && matches!(opt, "-C" | "--chdir") {
                    self.cwd_known = false;
                }
                if base == "xargs" && matches!(opt, "-I" | "-i" | "--replace") {
                    replace = Some(
                        rest.get(i + 1)
                            .and_then(Arg::lit)
                            .unwrap_or("{}")
                            .to_owned(),
                    );
                }
                let takes_value = w.valued.contains(&opt) && !s.contains('=');
                i += if takes_value { 2 } else { 1 };
                continue;
            }
            if w.assignments && s.contains('=') && !s.starts_with('=') {
                let var = s.split('=').next().unwrap_or_default();
                if steers_execution(var) {
                    self.unresolved(format!(
                        "`{base} {var}=…` changes which program runs or what it loads"
                    ));
                }
                i += 1;
                continue;
            }
            if positional > 0 {
                positional -= 1;
                i += 1;
                continue;
            }
            break;
        }
        let mut inner: Vec<Arg> = rest.get(i..).unwrap_or_default().to_vec();
        if base == "xargs" {
            if inner.is_empty() {
                inner.push(Arg::Lit("echo".into()));
            }
            match &replace {
                Some(r) => {
                    for a in inner.iter_mut().skip(1) {
                        if a.lit().is_some_and(|s| s.contains(r.as_str())) {
                            *a = Arg::One;
                        }
                    }
                }
                None => inner.push(Arg::Many),
            }
        }
        if !inner.is_empty() {
            self.command(&inner, depth + 1);
        }
    }
}

/// The words of `eval` joined as the shell does, when all are known.
fn literal_line(args: &[Arg]) -> Option<String> {
    let words: Option<Vec<&str>> = args.iter().map(Arg::lit).collect();
    words.map(|w| w.join(" "))
}

/// The arguments after leading options (`valued` ones take the next argument).
fn skip_options<'a>(args: &'a [Arg], valued: &[&str]) -> &'a [Arg] {
    let mut i = 0;
    while let Some(Arg::Lit(s)) = args.get(i) {
        if s == "--" {
            i += 1;
            break;
        }
        if !s.starts_with('-') || s.len() < 2 {
            break;
        }
        i += if valued.contains(&s.as_str()) { 2 } else { 1 };
    }
    args.get(i..).unwrap_or_default()
}

/// Redirection targets that are streams, not files the manifest governs.
fn is_stream(path: &str) -> bool {
    matches!(
        path,
        "/dev/null" | "/dev/stdin" | "/dev/stdout" | "/dev/stderr" | "/dev/tty"
    ) || path
        .strip_prefix("/dev/fd/")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests;
