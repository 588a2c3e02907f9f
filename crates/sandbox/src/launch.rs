//! The launcher: runs one program under every layer the kernel offers, in stages, failing
//! closed. Any setup failure stops before the program runs; nothing falls back to running
//! unconfined.
//!
//! ```text
//! cordon (parent)  prepare argv/env/maps/filters · fork · wait · report the exit status
//!  └─ setup child  PDEATHSIG · unshare(user, mount, pid, net, ipc, uts) · uid/gid maps · fork · wait
//!      └─ agent    PID 1 of the new namespace: private mounts, fresh /proc, noexec writable
//!                  paths, loopback, rlimits, fds closed, Landlock, capabilities dropped,
//!                  seccomp last, then execve
//! ```
//!
//! The agent is PID 1 of its namespace, so when it exits the kernel kills everything it left
//! behind; both children die with their parent (`PR_SET_PDEATHSIG`).
//!
//! Call [`launch`] from a single-threaded process: the children allocate between `fork` and
//! `execve`, which is only sound when no other thread could hold the allocator's lock.

use std::ffi::{CStr, CString, OsStr};
use std::io::Read as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath,
    PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};
use seccompiler::BpfProgram;

use crate::exec::ExecPlan;
use crate::probe::Features;

/// Resource limits (`setrlimit`), each applied as both soft and hard limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// RLIMIT_NPROC.
    pub processes: Option<u64>,
    /// RLIMIT_AS, bytes.
    pub memory_bytes: Option<u64>,
    /// RLIMIT_NOFILE.
    pub open_files: Option<u64>,
    /// RLIMIT_CPU, seconds.
    pub cpu_seconds: Option<u64>,
    /// RLIMIT_FSIZE, bytes.
    pub file_size_bytes: Option<u64>,
}

/// Everything the launcher needs, resolved: no policy is evaluated here.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The program (absolute; it must be in `exec.execute`).
    pub program: PathBuf,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// The complete environment of the program.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Paths with read rights (directories cover their subtree).
    pub read: Vec<PathBuf>,
    /// Paths with read and write rights.
    pub write: Vec<PathBuf>,
    /// Paths carved out of `read` and `write` (concrete, existing or not).
    pub deny: Vec<PathBuf>,
    /// Execute rights and the reads programs need to start.
    pub exec: ExecPlan,
    /// Resource limits.
    pub limits: Limits,
    /// The egress bridge, the agent's only network path; none for no network at all.
    pub bridge: Option<crate::bridge::Bridge>,
}

/// How the program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
}

impl Exit {
    /// The exit code a shell would report: the code, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            Self::Code(c) => c,
            Self::Signal(s) => 128 + s,
        }
    }
}

/// Why the program was not started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// A required layer is missing and running degraded was not allowed.
    #[error("the kernel lacks required sandbox layers: {0}")]
    Missing(String),
    /// Preparing the launch failed (before anything was forked).
    #[error("{0}")]
    Prepare(String),
    /// A stage in the child failed; the program did not run.
    #[error("sandbox setup failed at `{0}`")]
    Setup(String),
    /// The process calling `launch` has several threads.
    #[error("the launcher must run single-threaded (found {0} threads)")]
    Threads(usize),
}

/// The layers that will be applied, and those skipped because the kernel lacks them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enforcement {
    /// Layer names applied.
    pub enforced: Vec<&'static str>,
    /// Layer names skipped (only with `allow_degraded`).
    pub degraded: Vec<&'static str>,
    /// The Landlock ABI the kernel offers (0 without Landlock).
    pub landlock_abi: u32,
}

/// Which layers to apply on this kernel, or an error when a required one is missing and
/// degraded running was not allowed.
pub fn plan_layers(features: &Features, allow_degraded: bool) -> Result<Enforcement, LaunchError> {
    let mut e = Enforcement {
        landlock_abi: features.landlock_abi.unwrap_or(0),
        ..Enforcement::default()
    };
    let mut missing = Vec::new();
    for l in features.layers() {
        if l.available {
            e.enforced.push(l.name);
        } else {
            e.degraded.push(l.name);
            if l.required {
                missing.push(format!("{} ({})", l.name, l.missing.unwrap_or_default()));
            }
        }
    }
    if !missing.is_empty() && !allow_degraded {
        return Err(LaunchError::Missing(missing.join("; ")));
    }
    Ok(e)
}

/// Read-only files most programs touch on start: the loader cache, time zone and locale data,
/// user and group names, and the harmless devices.
const RUNTIME_READ: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/usr/share/zoneinfo",
    "/usr/lib/locale",
    "/usr/share/locale",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/dev/urandom",
    "/dev/random",
];

/// Devices programs may write to.
const RUNTIME_WRITE: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];

/// What the children need, prepared before `fork` so that they touch little.
struct Prepared {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: CString,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    filters: Vec<BpfProgram>,
    /// Installed too when `vm.memfd_noexec` cannot be raised.
    memfd_fallback: Option<BpfProgram>,
    /// Directories replaced by an empty tmpfs.
    masked: Vec<CString>,
    write_mounts: Vec<CString>,
}

fn cstring(s: impl AsRef<OsStr>, what: &str) -> Result<CString, LaunchError> {
    CString::new(s.as_ref().as_bytes())
        .map_err(|_| LaunchError::Prepare(format!("{what} contains a NUL byte")))
}

fn prepare(spec: &Spec, e: &Enforcement) -> Result<Prepared, LaunchError> {
    if !spec.exec.execute.contains(&spec.program) {
        return Err(LaunchError::Prepare(format!(
            "`{}` is not among the granted programs",
            spec.program.display()
        )));
    }
    let program = cstring(&spec.program, "the program path")?;
    let mut argv = vec![program.clone()];
    for a in &spec.args {
        argv.push(cstring(a, "an argument")?);
    }
    let envp = spec
        .env
        .iter()
        .map(|(k, v)| cstring(format!("{k}={v}"), "an environment variable"))
        .collect::<Result<Vec<_>, _>>()?;
    // SAFETY: getuid/getgid have no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    // SAFETY: as above.
    let gid = unsafe { libc::getgid() };
    let seccomp = e.enforced.contains(&"seccomp");
    let filters = if seccomp {
        // Landlock controls connecting to path-named unix sockets from ABI 9 on; before it,
        // seccomp refuses creating unix sockets at all.
        let unix = if e.landlock_abi >= 9 {
            crate::seccomp::UnixSockets::Allowed
        } else {
            crate::seccomp::UnixSockets::PairsOnly
        };
        crate::seccomp::agent_filters(unix).map_err(|err| LaunchError::Prepare(err.to_string()))?
    } else {
        Vec::new()
    };
    let memfd_fallback = if seccomp {
        Some(
            crate::seccomp::memfd_fallback_filter()
                .map_err(|err| LaunchError::Prepare(err.to_string()))?,
        )
    } else {
        None
    };
    let write_mounts = spec
        .write
        .iter()
        .filter(|p| p.exists())
        .map(|p| cstring(p, "a write path"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Prepared {
        program,
        argv,
        envp,
        cwd: cstring(&spec.cwd, "the working directory")?,
        uid_map: format!("{uid} {uid} 1\n").into_bytes(),
        gid_map: format!("{gid} {gid} 1\n").into_bytes(),
        filters,
        memfd_fallback,
        masked: masked_dirs(spec)?,
        write_mounts,
    })
}

/// Directories where other programs keep their sockets: `/run` (system and session buses,
/// container engines, `XDG_RUNTIME_DIR`), the temporary directories (tmux, ssh-agent, X11) and
/// `/dev/shm`.
const SOCKET_DIRS: &[&str] = &["/run", "/var/run", "/tmp", "/var/tmp", "/dev/shm"];

/// Socket directories to hide, unless something the sandbox needs lies under or over one
/// (symbolic links such as `/var/run` → `/run` are covered by their target).
fn masked_dirs(spec: &Spec) -> Result<Vec<CString>, LaunchError> {
    let mut out = Vec::new();
    for dir in SOCKET_DIRS {
        let path = Path::new(dir);
        let is_real_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
        // Paths the sandbox must keep reaching: grants, the granted programs and what they
        // load, and the egress proxy's socket (the bridge connects to it from this namespace).
        let bridge = spec.bridge.as_ref().map(|b| b.socket.clone());
        let granted = spec
            .read
            .iter()
            .chain(&spec.write)
            .chain(&spec.exec.read)
            .chain(&spec.exec.execute)
            .chain(bridge.iter())
            .any(|g| g.starts_with(path) || path.starts_with(g));
        if is_real_dir && !granted {
            out.push(cstring(dir, "a masked directory")?);
        }
    }
    Ok(out)
}

fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(1)
}

/// Run `spec.program` in the sandbox and wait for it.
pub fn launch(spec: &Spec, e: &Enforcement) -> Result<Exit, LaunchError> {
    let threads = thread_count();
    if threads > 1 {
        return Err(LaunchError::Threads(threads));
    }
    let p = prepare(spec, e)?;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two c_ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(LaunchError::Prepare(format!(
            "pipe: {}",
            std::io::Error::last_os_error()
        )));
    }
    let [read_fd, write_fd] = fds;
    // SAFETY: pipe2 succeeded, so the descriptor is open and owned by nobody else.
    let read_end = unsafe { OwnedFd::from_raw_fd(read_fd) };
    // SAFETY: as above, for the other end.
    let write_end = unsafe { OwnedFd::from_raw_fd(write_fd) };
    // The launcher ignores the terminal's interrupt and quit while it waits, as system(3) does;
    // the agent restores the defaults before it starts and decides for itself.
    ignore_interactive_signals(true);
    // SAFETY: getpid has no preconditions.
    let launcher = unsafe { libc::getpid() };
    // SAFETY: the process is single-threaded (checked above), so the child may allocate.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        ignore_interactive_signals(false);
        return Err(LaunchError::Prepare(format!(
            "fork: {}",
            std::io::Error::last_os_error()
        )));
    }
    if pid == 0 {
        drop(read_end);
        setup_child(spec, e, &p, write_end.as_raw_fd(), launcher);
    }
    drop(write_end);
    let mut message = Vec::new();
    let _ = std::fs::File::from(read_end)
        .take(4096)
        .read_to_end(&mut message);
    let status = wait_for(pid);
    ignore_interactive_signals(false);
    if !message.is_empty() {
        return Err(LaunchError::Setup(
            String::from_utf8_lossy(&message).into_owned(),
        ));
    }
    status.ok_or_else(|| LaunchError::Setup("waiting for the sandbox failed".to_owned()))
}

fn ignore_interactive_signals(ignore: bool) {
    let action = if ignore { libc::SIG_IGN } else { libc::SIG_DFL };
    for sig in [libc::SIGINT, libc::SIGQUIT] {
        // SAFETY: installing SIG_IGN or SIG_DFL needs no handler code and is always sound.
        unsafe { libc::signal(sig, action) };
    }
}

fn wait_for(pid: libc::pid_t) -> Option<Exit> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid, writable c_int.
        let r = unsafe { libc::waitpid(pid, &raw mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
    }
    if libc::WIFEXITED(status) {
        Some(Exit::Code(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(Exit::Signal(libc::WTERMSIG(status)))
    } else {
        None
    }
}

/// Send `msg` to the launcher through the pipe and exit. Never returns.
fn fail_with(pipe: libc::c_int, msg: &str) -> ! {
    // SAFETY: `msg` is a valid buffer of `msg.len()` bytes; a short or failed write only loses
    // the message, and the exit status still says the setup failed.
    unsafe { libc::write(pipe, msg.as_ptr().cast(), msg.len()) };
    // SAFETY: _exit ends the process without unwinding or running the parent's handlers.
    unsafe { libc::_exit(126) }
}

/// Report a failed stage, with the OS error, and exit.
fn fail(pipe: libc::c_int, stage: &str) -> ! {
    let err = std::io::Error::last_os_error();
    fail_with(pipe, &format!("{stage}: {err}"))
}

fn check(pipe: libc::c_int, ok: bool, stage: &str) {
    if !ok {
        fail(pipe, stage);
    }
}

fn write_file(pipe: libc::c_int, path: &str, contents: &[u8]) {
    if let Err(err) = std::fs::write(path, contents) {
        fail_with(pipe, &format!("writing {path}: {err}"));
    }
}

/// The setup child: namespaces and id maps, then the agent as PID 1 of the new namespace.
fn setup_child(
    spec: &Spec,
    e: &Enforcement,
    p: &Prepared,
    pipe: libc::c_int,
    launcher: libc::pid_t,
) -> ! {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; no pointers.
    let ok = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } == 0;
    check(pipe, ok, "prctl(PR_SET_PDEATHSIG)");
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != launcher {
        // SAFETY: the launcher is already gone; end at once.
        unsafe { libc::_exit(126) };
    }
    let has = |layer: &str| e.enforced.contains(&layer);
    let mut flags = 0;
    for (layer, flag) in [
        ("user-namespace", libc::CLONE_NEWUSER),
        ("mount-namespace", libc::CLONE_NEWNS),
        ("pid-namespace", libc::CLONE_NEWPID),
        ("network-namespace", libc::CLONE_NEWNET),
        ("ipc-namespace", libc::CLONE_NEWIPC),
        ("uts-namespace", libc::CLONE_NEWUTS),
    ] {
        if has(layer) {
            flags |= flag;
        }
    }
    // SAFETY: unshare takes a flag word only.
    check(pipe, unsafe { libc::unshare(flags) } == 0, "unshare");
    if has("user-namespace") {
        write_file(pipe, "/proc/self/setgroups", b"deny");
        write_file(pipe, "/proc/self/uid_map", &p.uid_map);
        write_file(pipe, "/proc/self/gid_map", &p.gid_map);
    }
    if has("network-namespace") {
        loopback_up(pipe);
    }
    // The bridge listens before the agent exists, so its first connect finds it.
    let listener = match &spec.bridge {
        Some(b) if has("network-namespace") => match crate::bridge::bind(b) {
            Ok(l) => Some((l, b.socket.clone())),
            Err(err) => fail_with(
                pipe,
                &format!("binding the egress bridge on 127.0.0.1:{}: {err}", b.port),
            ),
        },
        _ => None,
    };
    // SAFETY: single-threaded child of a single-threaded process; see `launch`. Threads (the
    // bridge) start only after this fork.
    let agent = unsafe { libc::fork() };
    check(pipe, agent >= 0, "fork");
    if agent == 0 {
        agent_child(spec, e, p, pipe);
    }
    // SAFETY: closing our copy of the pipe lets the launcher see EOF once the agent execs.
    unsafe { libc::close(pipe) };
    if let Some((listener, socket)) = &listener {
        crate::bridge::serve_until_exit(listener, socket, agent);
    }
    let code = wait_for(agent).map_or(126, Exit::code);
    // SAFETY: _exit with the agent's status; nothing else to clean up in this process.
    unsafe { libc::_exit(code) }
}

fn mount(
    pipe: libc::c_int,
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    stage: &str,
) {
    // SAFETY: every pointer is either null or a valid NUL-terminated string that outlives the
    // call; `data` is null.
    let r = unsafe {
        libc::mount(
            source.map_or(std::ptr::null(), CStr::as_ptr),
            target.as_ptr(),
            fstype.map_or(std::ptr::null(), CStr::as_ptr),
            flags,
            std::ptr::null(),
        )
    };
    check(pipe, r == 0, stage);
}

/// The agent: PID 1 of the new namespaces. Applies the remaining layers and execs.
fn agent_child(spec: &Spec, e: &Enforcement, p: &Prepared, pipe: libc::c_int) -> ! {
    // SAFETY: as in `setup_child`.
    let ok = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } == 0;
    check(pipe, ok, "prctl(PR_SET_PDEATHSIG)");
    let has = |layer: &str| e.enforced.contains(&layer);
    if has("mount-namespace") {
        mount(
            pipe,
            None,
            c"/",
            None,
            libc::MS_REC | libc::MS_PRIVATE,
            "making mounts private",
        );
        // Everything read-only (and no setuid) unless re-bound writable below.
        read_only_root(pipe);
        // Other programs' sockets (container engines, buses, tmux, ssh-agent, X11) live under
        // /run and the temporary directories; Landlock before ABI 9 cannot refuse connecting to
        // a socket reachable by path, so those directories are replaced by an empty, read-only
        // tmpfs unless a grant lies under them.
        for dir in &p.masked {
            mount(
                pipe,
                Some(c"tmpfs"),
                dir,
                Some(c"tmpfs"),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY,
                "hiding a socket directory",
            );
        }
        if has("pid-namespace") {
            mount(
                pipe,
                Some(c"proc"),
                c"/proc",
                Some(c"proc"),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                "mounting /proc",
            );
        }
        // Nothing written by the agent can be executed or mapped executable.
        for dir in &p.write_mounts {
            mount(
                pipe,
                Some(dir),
                dir,
                None,
                libc::MS_BIND | libc::MS_REC,
                "bind-mounting a write path",
            );
            mount(
                pipe,
                None,
                dir,
                None,
                libc::MS_BIND
                    | libc::MS_REMOUNT
                    | libc::MS_NOEXEC
                    | libc::MS_NOSUID
                    | libc::MS_NODEV,
                "making a write path noexec",
            );
        }
    }
    let memfd_sealed = has("pid-namespace") && has("mount-namespace") && memfd_noexec();
    if has("uts-namespace") {
        let name = b"cordon";
        // SAFETY: `name` is a valid buffer of the given length.
        check(
            pipe,
            unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) } == 0,
            "sethostname",
        );
    }
    // SAFETY: chdir reads a valid NUL-terminated path.
    check(
        pipe,
        unsafe { libc::chdir(p.cwd.as_ptr()) } == 0,
        "chdir to the working directory",
    );
    set_limits(pipe, &spec.limits);
    // Every descriptor but stdio and the error pipe (already close-on-exec) goes at exec.
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on descriptors.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    check(pipe, r == 0, "close_range");
    let own_proc = has("pid-namespace") && has("mount-namespace");
    if has("landlock-fs")
        && let Err(msg) = landlock_restrict(spec, own_proc)
    {
        fail_with(pipe, &format!("landlock: {msg}"));
    }
    drop_capabilities(pipe);
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integers only.
    check(
        pipe,
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } == 0,
        "no_new_privs",
    );
    for sig in [libc::SIGINT, libc::SIGQUIT] {
        // SAFETY: restoring the default disposition needs no handler code.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    // Seccomp last: everything before may use calls the filter denies.
    let fallback = p.memfd_fallback.iter().filter(|_| !memfd_sealed);
    for filter in p.filters.iter().chain(fallback) {
        if seccompiler::apply_filter(filter).is_err() {
            fail(pipe, "installing the seccomp filter");
        }
    }
    let mut argv: Vec<*const libc::c_char> = p.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = p.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: `program` is NUL-terminated; `argv` and `envp` are null-terminated arrays of
    // pointers to NUL-terminated strings, all alive until execve replaces the process.
    unsafe { libc::execve(p.program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    fail(pipe, "execve")
}

/// Make every mount read-only and nosuid, recursively (`mount_setattr`, Linux 5.12).
fn read_only_root(pipe: libc::c_int) {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const MOUNT_ATTR_NOSUID: u64 = 0x2;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: the path is a valid NUL-terminated string and `attr` a valid mount_attr whose
    // size is passed along; both outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c"/".as_ptr(),
            libc::AT_RECURSIVE,
            &raw const attr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(pipe, r == 0, "making the file system read-only");
}

/// New memory files are not executable unless asked for (`vm.memfd_noexec` = 1 in this PID
/// namespace); the seccomp filter refuses asking for it. Together they stop running code from
/// a memfd through `/proc/self/fd`. Returns false when the setting cannot be raised here (an
/// unprivileged user's namespace, or an older kernel): the caller then refuses memfds that are
/// not sealed non-executable.
fn memfd_noexec() -> bool {
    let already = std::fs::read_to_string("/proc/sys/vm/memfd_noexec")
        .ok()
        .and_then(|v| v.trim().parse::<u8>().ok())
        .is_some_and(|v| v >= 1);
    already || std::fs::write("/proc/sys/vm/memfd_noexec", b"1").is_ok()
}

fn loopback_up(pipe: libc::c_int) {
    // SAFETY: socket takes integers only.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    check(pipe, sock >= 0, "socket for loopback");
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq naming `lo`; SIOCGIFFLAGS fills its flags.
    check(
        pipe,
        unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS, &raw mut req) } == 0,
        "reading loopback flags",
    );
    // SAFETY: the union field was just filled by SIOCGIFFLAGS.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | (libc::IFF_UP as libc::c_short);
    // SAFETY: `req` is a valid ifreq; SIOCSIFFLAGS reads it.
    check(
        pipe,
        unsafe { libc::ioctl(sock, libc::SIOCSIFFLAGS, &raw const req) } == 0,
        "bringing loopback up",
    );
    // SAFETY: `sock` is ours and no longer used.
    unsafe { libc::close(sock) };
}

fn set_limits(pipe: libc::c_int, l: &Limits) {
    for (resource, value) in [
        (libc::RLIMIT_NPROC, l.processes),
        (libc::RLIMIT_AS, l.memory_bytes),
        (libc::RLIMIT_NOFILE, l.open_files),
        (libc::RLIMIT_CPU, l.cpu_seconds),
        (libc::RLIMIT_FSIZE, l.file_size_bytes),
    ] {
        let Some(v) = value else { continue };
        let lim = libc::rlimit {
            rlim_cur: v,
            rlim_max: v,
        };
        // SAFETY: `lim` is a valid rlimit for the duration of the call.
        check(
            pipe,
            unsafe { libc::setrlimit(resource, &raw const lim) } == 0,
            "setrlimit",
        );
    }
}

fn drop_capabilities(pipe: libc::c_int) {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<libc::c_ulong>().ok())
        .unwrap_or(63);
    for cap in 0..=last {
        // SAFETY: PR_CAPBSET_DROP takes a capability number; EINVAL for unknown ones is fine.
        unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
    }
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes integers only.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: `header` and `data` have the layout capset(2) expects for version 3 (one header,
    // two data words) and live for the duration of the call.
    let r = unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) };
    check(pipe, r == 0, "dropping capabilities");
}

fn access_read(abi: ABI) -> BitFlags<AccessFs> {
    AccessFs::from_read(abi) & !AccessFs::Execute
}

fn access_write(abi: ABI) -> BitFlags<AccessFs> {
    AccessFs::from_all(abi) & !AccessFs::Execute
}

/// Build and apply the Landlock ruleset: file rights from the spec (with deny carve-outs),
/// execute rights for the granted programs only, no TCP bind or connect, and scoping of
/// signals and abstract unix sockets.
fn landlock_restrict(spec: &Spec, own_proc: bool) -> Result<(), String> {
    // Best effort: rights newer than the running kernel (e.g. ABI 9's control of connecting to
    // path-named unix sockets) are requested and enforced where the kernel has them.
    let abi = ABI::V9;
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .map_err(|e| e.to_string())?
        .handle_access(AccessNet::from_all(abi))
        .map_err(|e| e.to_string())?
        .scope(Scope::from_all(abi))
        .map_err(|e| e.to_string())?
        .create()
        .map_err(|e| e.to_string())?;
    let mut rules: Vec<(PathBuf, BitFlags<AccessFs>)> = Vec::new();
    for r in carve(&spec.read, &spec.deny) {
        rules.push((r, access_read(abi)));
    }
    for w in carve(&spec.write, &spec.deny) {
        rules.push((w, access_write(abi)));
    }
    for f in &spec.exec.read {
        rules.push((f.clone(), access_read(abi)));
    }
    for f in &spec.exec.execute {
        rules.push((f.clone(), AccessFs::ReadFile | AccessFs::Execute));
    }
    for f in RUNTIME_READ {
        rules.push((PathBuf::from(f), access_read(abi)));
    }
    for f in RUNTIME_WRITE {
        rules.push((PathBuf::from(f), AccessFs::ReadFile | AccessFs::WriteFile));
    }
    // With its own PID namespace the agent has a fresh /proc that shows only its processes:
    // it may read it (tools read /proc/self/…, /proc/cpuinfo). Otherwise only its own entry.
    let proc_grant = if own_proc { "/proc" } else { "/proc/self" };
    rules.push((PathBuf::from(proc_grant), access_read(abi)));
    // TCP: connect to the egress bridge only; bind nothing.
    if let Some(bridge) = &spec.bridge {
        ruleset = ruleset
            .add_rule(NetPort::new(bridge.port, AccessNet::ConnectTcp))
            .map_err(|e| format!("bridge port {}: {e}", bridge.port))?;
    }
    for (path, access) in rules {
        // Grants for paths that do not exist grant nothing; skip them.
        let Ok(fd) = PathFd::new(&path) else { continue };
        let access = if path.is_dir() {
            access
        } else {
            access & AccessFs::from_file(abi)
        };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let status = ruleset.restrict_self().map_err(|e| e.to_string())?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err("the kernel did not enforce the ruleset".to_owned());
    }
    Ok(())
}

/// Grants with deny carve-outs: a grant that contains a denied path is replaced by its
/// entries, recursively along the way to the denied path, leaving the denied path out.
/// (Landlock rules only allow, so a deny inside a grant is expressed by not granting it.)
pub fn carve(grants: &[PathBuf], denies: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for g in grants {
        carve_one(g, denies, &mut out, 0);
    }
    out
}

fn carve_one(grant: &Path, denies: &[PathBuf], out: &mut Vec<PathBuf>, depth: usize) {
    if denies.iter().any(|d| grant.starts_with(d)) {
        return;
    }
    let inside: Vec<&PathBuf> = denies.iter().filter(|d| d.starts_with(grant)).collect();
    if inside.is_empty() || depth > 64 {
        if inside.is_empty() {
            out.push(grant.to_path_buf());
        }
        return;
    }
    let Ok(entries) = std::fs::read_dir(grant) else {
        // Not a directory (or unreadable): the deny covers it or nothing under it exists.
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        // Do not follow links while carving: a link is granted as itself.
        carve_one(&path, denies, out, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carving_leaves_out_exactly_the_denied_subtree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["a/private/x", "a/public", "b"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("a/notes.txt"), "n").unwrap();
        let mut got = carve(&[root.to_path_buf()], &[root.join("a/private")]);
        got.sort();
        let mut want = vec![
            root.join("a/notes.txt"),
            root.join("a/public"),
            root.join("b"),
        ];
        want.sort();
        assert_eq!(got, want);
        assert_eq!(
            carve(&[root.join("b")], &[root.join("a")]),
            vec![root.join("b")]
        );
        assert!(carve(&[root.join("a/private/x")], &[root.join("a")]).is_empty());
    }
}
