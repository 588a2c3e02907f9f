//! What granted programs need in order to start, so that execute rights can be computed from
//! `commandsAllowed` instead of being granted wide.
//!
//! For an ELF program: its interpreter (the dynamic loader, which the kernel opens with execute
//! permission) and, transitively, the shared libraries named by `DT_NEEDED`, found the way the
//! glibc loader finds them (`DT_RPATH` when there is no `DT_RUNPATH`, `DT_RUNPATH`, the
//! directories of `/etc/ld.so.conf`, then the default directories), keeping only libraries of the
//! same ELF class and machine. Libraries need read rights only. For a `#!` script: its
//! interpreter, which is then executable by the agent too — reported as a widening.
//! `LD_LIBRARY_PATH` is not consulted: the sandbox scrubs it.

use std::collections::{BTreeSet, VecDeque};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use cordon_policy::wildcard;
use goblin::elf::Elf;
use goblin::elf::dynamic::{DT_RPATH, DT_RUNPATH, Dynamic};
use goblin::elf::program_header::{PT_INTERP, ProgramHeader};
use goblin::strtab::Strtab;
use serde::Serialize;

/// Files larger than this are not read as programs or libraries.
const MAX_OBJECT_BYTES: u64 = 1 << 30;
/// More shared objects than this for one plan is refused (a loop or a hostile tree).
const MAX_OBJECTS: usize = 2048;
/// Nested script interpreters followed at most.
const MAX_SCRIPT_DEPTH: usize = 4;

/// Why a program's needs cannot be computed; `cordon run` refuses to start then.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program does not exist or cannot be opened.
    #[error("`{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Not an ELF file and not a `#!` script.
    #[error("`{0}` is neither an ELF program nor a `#!` script")]
    NotProgram(PathBuf),
    /// The ELF file could not be parsed.
    #[error("`{path}` is not a valid ELF file: {reason}")]
    BadElf {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// A shared library could not be found.
    #[error("`{needed}`, needed by `{by}`, was not found in {searched} directories")]
    Unresolved {
        /// The library name.
        needed: String,
        /// The object that needs it.
        by: PathBuf,
        /// How many directories were searched.
        searched: usize,
    },
    /// Too many objects or nested interpreters.
    #[error("`{0}` needs more shared objects or interpreters than cordon follows")]
    TooDeep(PathBuf),
    /// Too large to read.
    #[error("`{0}` is larger than 1 GiB")]
    TooLarge(PathBuf),
}

/// How a program starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProgramKind {
    /// A statically linked ELF program.
    StaticElf,
    /// A dynamically linked ELF program.
    DynamicElf,
    /// A `#!` script.
    Script,
}

/// What one granted program needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgramNeeds {
    /// The program as granted.
    pub path: PathBuf,
    /// The file it resolves to.
    pub resolved: PathBuf,
    /// How it starts.
    pub kind: ProgramKind,
    /// Its ELF or script interpreter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<PathBuf>,
    /// Shared libraries, transitively (of the interpreter too, for scripts).
    pub libraries: Vec<PathBuf>,
    /// Directories the program reads its own code from (an interpreter's standard library).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<PathBuf>,
    /// Set when granting this program lets the agent run something more (a script's
    /// interpreter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub widens: Option<String>,
}

/// Rights the granted programs need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExecPlan {
    /// Files that get the execute right (resolved paths).
    pub execute: BTreeSet<PathBuf>,
    /// Files that get the read right so those programs can start (resolved paths).
    pub read: BTreeSet<PathBuf>,
    /// Per program.
    pub programs: Vec<ProgramNeeds>,
}

impl ExecPlan {
    /// Add one program's needs: execute for it and its interpreter, read for everything it
    /// loads.
    pub fn add(&mut self, needs: ProgramNeeds) {
        self.execute.insert(needs.resolved.clone());
        self.read.insert(needs.resolved.clone());
        if let Some(interp) = &needs.interpreter {
            self.execute.insert(interp.clone());
            self.read.insert(interp.clone());
        }
        self.read.extend(needs.libraries.iter().cloned());
        self.read.extend(needs.data.iter().cloned());
        self.programs.push(needs);
    }
}

/// Compute what `programs` need. Every program must resolve fully: fail closed.
pub fn exec_plan(programs: &[PathBuf]) -> Result<ExecPlan, ExecError> {
    let mut plan = ExecPlan::default();
    if Path::new("/etc/ld.so.cache").exists() {
        plan.read.insert(PathBuf::from("/etc/ld.so.cache"));
    }
    for needs in needs_each(programs) {
        plan.add(needs?);
    }
    Ok(plan)
}

/// What each program needs, or why that cannot be computed, program by program (for reports;
/// enforcement uses [`exec_plan`], which stops at the first failure).
pub fn needs_each(programs: &[PathBuf]) -> Vec<Result<ProgramNeeds, ExecError>> {
    let search = SearchPath::system();
    programs
        .iter()
        .map(|p| program_needs(p, &search, 0))
        .collect()
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExecError + '_ {
    move |source| ExecError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Read what is needed of a program or library: a buffer as long as the file in which only the
/// first page (ELF header or `#!` line), the program headers, `PT_INTERP`, `PT_DYNAMIC` and the
/// dynamic string table are filled in. The rest stays zero and is never touched, so a 2 MB C
/// library costs a few small reads instead of a full copy (this runs on every launch).
fn read_object(path: &Path) -> Result<Vec<u8>, ExecError> {
    use std::os::unix::fs::FileExt as _;
    let file = fs::File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    if len > MAX_OBJECT_BYTES {
        return Err(ExecError::TooLarge(path.to_owned()));
    }
    let len = usize::try_from(len).map_err(|_| ExecError::TooLarge(path.to_owned()))?;
    // A zeroed allocation: untouched pages are never faulted in.
    let mut buf = vec![0u8; len];
    let fill = |buf: &mut [u8], offset: u64, count: u64| -> Result<(), ExecError> {
        let Ok(start) = usize::try_from(offset) else {
            return Ok(());
        };
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        let end = start.saturating_add(count).min(len);
        // Regions outside the file are left for the parser to reject.
        let Some(region) = buf.get_mut(start..end) else {
            return Ok(());
        };
        file.read_exact_at(region, offset).map_err(io_err(path))
    };
    fill(&mut buf, 0, 4096)?;
    if !buf.starts_with(b"\x7fELF") {
        return Ok(buf);
    }
    let Ok(header) = Elf::parse_header(&buf) else {
        return Ok(buf);
    };
    let (Ok(container), Ok(endian)) = (header.container(), header.endianness()) else {
        return Ok(buf);
    };
    let ctx = goblin::container::Ctx::new(container, endian);
    fill(
        &mut buf,
        header.e_phoff,
        u64::from(header.e_phnum) * u64::from(header.e_phentsize),
    )?;
    let phoff = usize::try_from(header.e_phoff).unwrap_or(usize::MAX);
    let Ok(phdrs) = ProgramHeader::parse(&buf, phoff, usize::from(header.e_phnum), ctx) else {
        return Ok(buf);
    };
    for ph in &phdrs {
        if ph.p_type == PT_INTERP || ph.p_type == goblin::elf::program_header::PT_DYNAMIC {
            fill(&mut buf, ph.p_offset, ph.p_filesz)?;
        }
    }
    if let Ok(Some(dynamic)) = Dynamic::parse(&buf, &phdrs, ctx) {
        let (strtab, strsz) = (dynamic.info.strtab, dynamic.info.strsz);
        fill(
            &mut buf,
            u64::try_from(strtab).unwrap_or(u64::MAX),
            u64::try_from(strsz).unwrap_or(0),
        )?;
    }
    Ok(buf)
}

fn program_needs(
    program: &Path,
    search: &SearchPath,
    depth: usize,
) -> Result<ProgramNeeds, ExecError> {
    if depth > MAX_SCRIPT_DEPTH {
        return Err(ExecError::TooDeep(program.to_owned()));
    }
    let resolved = fs::canonicalize(program).map_err(io_err(program))?;
    let bytes = read_object(&resolved)?;
    if bytes.starts_with(b"#!") {
        let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let text = String::from_utf8_lossy(line.get(2..).unwrap_or_default()).into_owned();
        let interp = text
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        if !interp.starts_with('/') {
            return Err(ExecError::NotProgram(program.to_owned()));
        }
        let inner = program_needs(Path::new(&interp), search, depth + 1)?;
        let mut libraries = inner.libraries.clone();
        if let Some(i) = &inner.interpreter {
            libraries.push(i.clone());
        }
        return Ok(ProgramNeeds {
            path: program.to_owned(),
            resolved,
            kind: ProgramKind::Script,
            interpreter: Some(inner.resolved.clone()),
            libraries,
            data: inner.data.clone(),
            widens: Some(format!(
                "its interpreter `{}` becomes executable by the agent too",
                inner.resolved.display()
            )),
        });
    }
    if !bytes.starts_with(b"\x7fELF") {
        return Err(ExecError::NotProgram(program.to_owned()));
    }
    let elf = parse_object(&bytes).map_err(|e| ExecError::BadElf {
        path: resolved.clone(),
        reason: e.to_string(),
    })?;
    let interpreter = match &elf.interpreter {
        Some(i) => Some(fs::canonicalize(i).map_err(io_err(Path::new(i)))?),
        None => None,
    };
    let kind = if interpreter.is_some() || !elf.needed.is_empty() {
        ProgramKind::DynamicElf
    } else {
        ProgramKind::StaticElf
    };
    let mut libraries = libraries_of(&resolved, &elf, search)?;
    let data = runtime_data(&resolved);
    // Extension modules an interpreter loads at start bring shared libraries of their own.
    for module in extension_modules(&data) {
        let bytes = read_object(&module)?;
        let Ok(ext) = parse_object(&bytes) else {
            continue;
        };
        for lib in libraries_of(&module, &ext, search)? {
            if !libraries.contains(&lib) {
                libraries.push(lib);
            }
        }
    }
    Ok(ProgramNeeds {
        path: program.to_owned(),
        resolved,
        kind,
        interpreter,
        libraries,
        data,
        widens: None,
    })
}

/// Where known interpreters keep the code they load at start (read rights only), by the name of
/// the resolved program: `python3.11` reads `/usr/lib/python3.11`, `perl` reads its library
/// trees. Directories that do not exist are left out.
fn runtime_data(resolved: &Path) -> Vec<PathBuf> {
    let name = resolved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = resolved
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("/usr"), Path::to_path_buf);
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(version) = name.strip_prefix("python") {
        if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            dirs.push(prefix.join("lib").join(&name));
            dirs.push(PathBuf::from("/usr/lib/python3/dist-packages"));
            dirs.push(PathBuf::from("/usr/local/lib").join(&name));
        }
    } else if name == "perl" || name.starts_with("perl5") {
        dirs.extend(
            [
                "/usr/share/perl",
                "/usr/share/perl5",
                "/usr/lib/x86_64-linux-gnu/perl",
                "/usr/lib/x86_64-linux-gnu/perl5",
                "/usr/lib/x86_64-linux-gnu/perl-base",
            ]
            .map(PathBuf::from),
        );
    }
    dirs.retain(|d| d.is_dir());
    dirs
}

/// Shared objects in the `lib-dynload` directory of interpreter data (bounded).
fn extension_modules(data: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in data {
        let Ok(entries) = fs::read_dir(dir.join("lib-dynload")) else {
            continue;
        };
        out.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "so"))
                .take(MAX_OBJECTS),
        );
    }
    out.sort();
    out
}

/// What the loader reads from an ELF object: only the program headers and the dynamic section
/// are parsed (a full parse of a C library's symbol and relocation tables costs milliseconds on
/// every launch).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Object {
    identity: Identity,
    interpreter: Option<String>,
    needed: Vec<String>,
    rpaths: Vec<String>,
    runpaths: Vec<String>,
}

fn parse_object(bytes: &[u8]) -> Result<Object, goblin::error::Error> {
    let header = Elf::parse_header(bytes)?;
    let ctx = goblin::container::Ctx::new(header.container()?, header.endianness()?);
    let phoff = usize::try_from(header.e_phoff)
        .map_err(|_| goblin::error::Error::Malformed("program header offset".into()))?;
    let phdrs = ProgramHeader::parse(bytes, phoff, usize::from(header.e_phnum), ctx)?;
    let mut interpreter = None;
    for ph in &phdrs {
        if ph.p_type == PT_INTERP && ph.p_filesz > 0 {
            let start = usize::try_from(ph.p_offset).unwrap_or(usize::MAX);
            let len = usize::try_from(ph.p_filesz - 1).unwrap_or(usize::MAX);
            let text = start
                .checked_add(len)
                .and_then(|end| bytes.get(start..end))
                .ok_or_else(|| {
                    goblin::error::Error::Malformed("PT_INTERP lies outside the file".into())
                })?;
            interpreter = Some(String::from_utf8_lossy(text).into_owned());
        }
    }
    let (mut needed, mut rpaths, mut runpaths) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(dynamic) = Dynamic::parse(bytes, &phdrs, ctx)? {
        let strtab = Strtab::parse(bytes, dynamic.info.strtab, dynamic.info.strsz, 0)?;
        needed = dynamic
            .get_libraries(&strtab)
            .into_iter()
            .map(str::to_owned)
            .collect();
        for d in &dynamic.dyns {
            let value = usize::try_from(d.d_val).ok().and_then(|v| strtab.get_at(v));
            match (d.d_tag, value) {
                (DT_RPATH, Some(v)) => rpaths.push(v.to_owned()),
                (DT_RUNPATH, Some(v)) => runpaths.push(v.to_owned()),
                _ => {}
            }
        }
    }
    let is_64 =
        header.e_ident.get(goblin::elf::header::EI_CLASS) == Some(&goblin::elf::header::ELFCLASS64);
    Ok(Object {
        identity: Identity {
            is_64,
            machine: header.e_machine,
        },
        interpreter,
        needed,
        rpaths,
        runpaths,
    })
}

/// The ELF identity a library must share with the object that needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    is_64: bool,
    machine: u16,
}

/// An object whose `DT_NEEDED` entries are still to be resolved.
struct Pending {
    by: PathBuf,
    needed: Vec<String>,
    rpaths: Vec<String>,
    runpaths: Vec<String>,
}

impl Pending {
    fn of(path: &Path, object: &Object) -> Self {
        Self {
            by: path.to_owned(),
            needed: object.needed.clone(),
            rpaths: object.rpaths.clone(),
            runpaths: object.runpaths.clone(),
        }
    }
}

/// Shared libraries needed by `object`, transitively, breadth first.
fn libraries_of(
    object: &Path,
    elf: &Object,
    search: &SearchPath,
) -> Result<Vec<PathBuf>, ExecError> {
    let want = elf.identity;
    let mut found: Vec<PathBuf> = Vec::new();
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    let mut queue: VecDeque<Pending> = VecDeque::from([Pending::of(object, elf)]);
    while let Some(Pending {
        by,
        needed,
        rpaths,
        runpaths,
    }) = queue.pop_front()
    {
        let origin = by.parent().map(Path::to_path_buf).unwrap_or_default();
        for name in needed {
            let dirs = search.for_object(&origin, &rpaths, &runpaths);
            let hit = if name.contains('/') {
                Some(PathBuf::from(&name))
            } else {
                dirs.iter()
                    .map(|d| d.join(&name))
                    .find(|c| matches_identity(c, want))
            };
            let Some(hit) = hit else {
                return Err(ExecError::Unresolved {
                    needed: name,
                    by,
                    searched: dirs.len(),
                });
            };
            let canonical = fs::canonicalize(&hit).map_err(io_err(&hit))?;
            if !seen.insert(canonical.clone()) {
                continue;
            }
            if seen.len() > MAX_OBJECTS {
                return Err(ExecError::TooDeep(object.to_owned()));
            }
            let bytes = read_object(&canonical)?;
            let lib = parse_object(&bytes).map_err(|e| ExecError::BadElf {
                path: canonical.clone(),
                reason: e.to_string(),
            })?;
            queue.push_back(Pending::of(&canonical, &lib));
            found.push(canonical);
        }
    }
    Ok(found)
}

fn matches_identity(candidate: &Path, want: Identity) -> bool {
    // Only the ELF header is needed to tell class and machine apart.
    let mut head = [0u8; 64];
    let read = fs::File::open(candidate).and_then(|mut f| f.read(&mut head));
    match read {
        Ok(n) if n >= 20 => Elf::parse_header(&head).is_ok_and(|h| {
            let is_64 = h.e_ident.get(goblin::elf::header::EI_CLASS)
                == Some(&goblin::elf::header::ELFCLASS64);
            is_64 == want.is_64 && h.e_machine == want.machine
        }),
        _ => false,
    }
}

/// Where the loader looks for libraries.
#[derive(Debug, Clone)]
struct SearchPath {
    /// From `/etc/ld.so.conf` (and its includes).
    conf: Vec<PathBuf>,
    /// The loader's built-in defaults.
    defaults: Vec<PathBuf>,
}

impl SearchPath {
    fn system() -> Self {
        let mut conf = Vec::new();
        read_ld_so_conf(Path::new("/etc/ld.so.conf"), &mut conf, 0);
        let defaults = ["/lib64", "/usr/lib64", "/lib", "/usr/lib"]
            .into_iter()
            .map(PathBuf::from)
            .collect();
        Self { conf, defaults }
    }

    fn for_object(&self, origin: &Path, rpaths: &[String], runpaths: &[String]) -> Vec<PathBuf> {
        let expand = |list: &[String]| -> Vec<PathBuf> {
            list.iter()
                .flat_map(|entry| entry.split(':'))
                .filter(|d| !d.is_empty())
                .map(|d| {
                    let d = d
                        .replace("${ORIGIN}", &origin.to_string_lossy())
                        .replace("$ORIGIN", &origin.to_string_lossy());
                    PathBuf::from(d)
                })
                .filter(|p| p.is_absolute())
                .collect()
        };
        let mut dirs = Vec::new();
        if runpaths.is_empty() {
            dirs.extend(expand(rpaths));
        }
        dirs.extend(expand(runpaths));
        dirs.extend(self.conf.iter().cloned());
        dirs.extend(self.defaults.iter().cloned());
        dirs
    }
}

/// Read `ld.so.conf`-style files: one directory a line, `#` comments, `include GLOB` lines whose
/// glob may use `*` in the file name.
fn read_ld_so_conf(path: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 4 {
        return;
    }
    let Ok(text) = fs::read_to_string(path) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if let Some(pattern) = line.strip_prefix("include").map(str::trim) {
            let pattern = Path::new(pattern);
            let (Some(dir), Some(file)) = (pattern.parent(), pattern.file_name()) else {
                continue;
            };
            let file = file.to_string_lossy();
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            let mut matches: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .filter(|e| wildcard::matches(file.as_bytes(), e.file_name().as_encoded_bytes()))
                .map(|e| e.path())
                .collect();
            matches.sort();
            for m in matches {
                read_ld_so_conf(&m, out, depth + 1);
            }
        } else if line.starts_with('/') {
            let dir = PathBuf::from(line);
            if !out.contains(&dir) {
                out.push(dir);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_program_needs_its_loader_and_libc() {
        let plan = exec_plan(&[PathBuf::from("/bin/ls")]).unwrap();
        let ls = &plan.programs[0];
        assert_eq!(ls.kind, ProgramKind::DynamicElf);
        let loader = ls.interpreter.clone().unwrap();
        assert!(plan.execute.contains(&loader), "{plan:?}");
        assert!(
            ls.libraries
                .iter()
                .any(|l| l.to_string_lossy().contains("libc.so")),
            "{ls:?}"
        );
        // Libraries are read, never executed.
        for lib in &ls.libraries {
            assert!(plan.read.contains(lib));
            assert!(!plan.execute.contains(lib) || *lib == loader);
        }
    }

    #[test]
    fn scripts_widen_to_their_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.sh");
        fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        let plan = exec_plan(std::slice::from_ref(&script)).unwrap();
        let s = &plan.programs[0];
        assert_eq!(s.kind, ProgramKind::Script);
        assert!(s.widens.is_some());
        assert!(plan.execute.contains(&fs::canonicalize("/bin/sh").unwrap()));
    }

    #[test]
    fn refuses_what_it_cannot_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        fs::write(&text, "hello").unwrap();
        assert!(matches!(exec_plan(&[text]), Err(ExecError::NotProgram(_))));
        assert!(matches!(
            exec_plan(&[dir.path().join("missing")]),
            Err(ExecError::Io { .. })
        ));
        let bad = dir.path().join("bad");
        fs::write(&bad, b"\x7fELF\x02\x01\x01garbage").unwrap();
        assert!(matches!(exec_plan(&[bad]), Err(ExecError::BadElf { .. })));
        let relative = dir.path().join("rel.sh");
        fs::write(&relative, "#!sh\n").unwrap();
        assert!(matches!(
            exec_plan(&[relative]),
            Err(ExecError::NotProgram(_))
        ));
    }
}
