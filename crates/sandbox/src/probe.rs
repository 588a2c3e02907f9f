//! What the running kernel offers: Landlock (and which ABI), seccomp, no_new_privs, and which
//! namespaces this process may create. Probes ask the kernel directly; namespace probes run in
//! a short-lived child so this process is never changed.

use std::fs;

use serde::Serialize;

/// `LANDLOCK_CREATE_RULESET_VERSION`: ask `landlock_create_ruleset` for the ABI version.
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;

/// The Landlock ABI cordon is written against; newer kernels offer this one too.
pub const LANDLOCK_ABI_TARGET: u32 = 7;

/// Kernel features relevant to the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Features {
    /// `uname -r`.
    pub kernel: String,
    /// Landlock ABI version, when Landlock is built in and enabled.
    pub landlock_abi: Option<u32>,
    /// Why Landlock is unavailable, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landlock_unavailable: Option<String>,
    /// Seccomp filters can be installed.
    pub seccomp: bool,
    /// Seccomp user notification (for supervised mode) is offered.
    pub seccomp_user_notif: bool,
    /// `PR_SET_NO_NEW_PRIVS` is supported.
    pub no_new_privs: bool,
    /// Namespaces this process can create.
    pub namespaces: Namespaces,
    /// The process runs as uid 0.
    pub root: bool,
}

/// Which namespaces can be created (after a user namespace, as an unprivileged user would).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Namespaces {
    /// `CLONE_NEWUSER`.
    pub user: bool,
    /// `CLONE_NEWNS`.
    pub mount: bool,
    /// `CLONE_NEWPID`.
    pub pid: bool,
    /// `CLONE_NEWNET`.
    pub net: bool,
    /// `CLONE_NEWIPC`.
    pub ipc: bool,
    /// `CLONE_NEWUTS`.
    pub uts: bool,
}

/// One enforcement layer and whether this kernel provides it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layer {
    /// Short name, e.g. `landlock-fs`.
    pub name: &'static str,
    /// What it enforces.
    pub enforces: &'static str,
    /// Whether this kernel offers it.
    pub available: bool,
    /// Whether `cordon run` refuses to start without it (unless told to run degraded).
    pub required: bool,
    /// Why it is unavailable, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

impl Features {
    /// The layers `cordon run` builds the sandbox from, and which are available here.
    pub fn layers(&self) -> Vec<Layer> {
        let abi = self.landlock_abi.unwrap_or(0);
        let need_abi = |min: u32| {
            (abi < min).then(|| match self.landlock_abi {
                None => format!(
                    "Landlock is not available ({})",
                    self.landlock_unavailable.as_deref().unwrap_or("unknown")
                ),
                Some(v) => format!("needs Landlock ABI {min}, the kernel offers {v}"),
            })
        };
        let ns = self.namespaces;
        let layer = |name, enforces, required, missing: Option<String>| Layer {
            name,
            enforces,
            available: missing.is_none(),
            required,
            missing,
        };
        let missing_if = |ok: bool, why: &str| (!ok).then(|| why.to_owned());
        vec![
            layer(
                "landlock-fs",
                "read, write and execute rights from the manifest",
                true,
                need_abi(1),
            ),
            layer(
                "landlock-refer",
                "no renaming or linking files across grants",
                true,
                need_abi(2),
            ),
            layer(
                "landlock-truncate",
                "truncation only where writing is granted",
                false,
                need_abi(3),
            ),
            layer(
                "landlock-net",
                "TCP connect only to the egress bridge; bind nothing",
                false,
                need_abi(4),
            ),
            layer(
                "landlock-ioctl",
                "device ioctls only where granted",
                false,
                need_abi(5),
            ),
            layer(
                "landlock-scope",
                "no signals or abstract unix sockets outside the sandbox",
                false,
                need_abi(6),
            ),
            layer(
                "unix-sockets",
                "no connecting to the host's unix sockets (Landlock ABI 9; before it, seccomp \
                 refuses unix sockets other than socket pairs)",
                true,
                (abi < 9 && !self.seccomp)
                    .then(|| "needs Landlock ABI 9 or seccomp to refuse unix sockets".to_owned()),
            ),
            layer(
                "seccomp",
                "no ptrace, mount, namespace, bpf, keyctl, io_uring, module or kexec calls",
                true,
                missing_if(self.seccomp, "seccomp filters are not supported"),
            ),
            layer(
                "no-new-privs",
                "no privilege gain through setuid or file capabilities",
                true,
                missing_if(self.no_new_privs, "PR_SET_NO_NEW_PRIVS is not supported"),
            ),
            layer(
                "user-namespace",
                "the agent holds no capability outside its namespaces",
                true,
                missing_if(
                    ns.user,
                    "user namespaces cannot be created (disabled, or limited by a security module)",
                ),
            ),
            layer(
                "network-namespace",
                "no network but loopback and the egress bridge",
                true,
                missing_if(ns.net, "network namespaces cannot be created"),
            ),
            layer(
                "pid-namespace",
                "the agent sees and signals only its own processes",
                true,
                missing_if(ns.pid, "PID namespaces cannot be created"),
            ),
            layer(
                "mount-namespace",
                "private mounts: a fresh /proc, no host mounts changed",
                true,
                missing_if(ns.mount, "mount namespaces cannot be created"),
            ),
            layer(
                "ipc-namespace",
                "no System V IPC or POSIX queues shared with the host",
                false,
                missing_if(ns.ipc, "IPC namespaces cannot be created"),
            ),
            layer(
                "uts-namespace",
                "its own host name",
                false,
                missing_if(ns.uts, "UTS namespaces cannot be created"),
            ),
        ]
    }

    /// Required layers that are missing.
    pub fn missing_required(&self) -> Vec<Layer> {
        self.layers()
            .into_iter()
            .filter(|l| l.required && !l.available)
            .collect()
    }
}

/// Probe the running kernel.
pub fn probe() -> Features {
    probe_with(namespaces())
}

/// Probe without trying namespaces (which costs a fork), taking them as available: for a
/// launcher that will create them anyway and fails closed if the kernel refuses.
pub fn probe_assuming_namespaces() -> Features {
    probe_with(Namespaces {
        user: true,
        mount: true,
        pid: true,
        net: true,
        ipc: true,
        uts: true,
    })
}

fn probe_with(namespaces: Namespaces) -> Features {
    let (landlock_abi, landlock_unavailable) = landlock_abi();
    Features {
        kernel: kernel_release(),
        landlock_abi,
        landlock_unavailable,
        seccomp: seccomp_supported(),
        seccomp_user_notif: fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail")
            .is_ok_and(|s| s.split_whitespace().any(|a| a == "user_notif")),
        no_new_privs: no_new_privs_supported(),
        namespaces,
        // SAFETY: getuid has no preconditions and cannot fail.
        root: unsafe { libc::getuid() } == 0,
    }
}

fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn landlock_abi() -> (Option<u32>, Option<String>) {
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag, the call only
    // returns the ABI version (or an error); it creates nothing and reads no memory.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if ret >= 1 {
        return (u32::try_from(ret).ok(), None);
    }
    let err = std::io::Error::last_os_error();
    let why = match err.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel is built without Landlock".to_owned(),
        Some(libc::EOPNOTSUPP) => {
            "Landlock is disabled at boot (see the `lsm=` kernel parameter)".to_owned()
        }
        _ => err.to_string(),
    };
    (None, Some(why))
}

fn seccomp_supported() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no pointers; it returns the mode or fails with EINVAL when
    // the kernel lacks seccomp.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    mode >= 0 && fs::metadata("/proc/sys/kernel/seccomp/actions_avail").is_ok()
}

fn no_new_privs_supported() -> bool {
    // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointers and changes nothing.
    let v = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
    v >= 0
}

/// Try each namespace in a forked child (which then exits), so this process stays as it is.
fn namespaces() -> Namespaces {
    const FLAGS: [libc::c_int; 6] = [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUTS,
    ];
    // SAFETY: the child calls only unshare(2) and _exit(2), both async-signal-safe system
    // calls that allocate nothing, so forking a possibly multi-threaded process is sound.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mut bits: libc::c_int = 0;
        let mut bit: libc::c_int = 1;
        for flag in FLAGS {
            // SAFETY: unshare takes a flag word only; in this throwaway child it may change
            // anything about the child.
            if unsafe { libc::unshare(flag) } == 0 {
                bits |= bit;
            }
            bit <<= 1;
        }
        // SAFETY: _exit ends the child at once, without running the parent's atexit handlers
        // or flushing its copied stdio buffers.
        unsafe { libc::_exit(bits) };
    }
    if pid < 0 {
        return Namespaces::default();
    }
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a valid, writable c_int for the duration of the call.
    let waited = unsafe { libc::waitpid(pid, &raw mut status, 0) };
    if waited != pid || !libc::WIFEXITED(status) {
        return Namespaces::default();
    }
    let bits = libc::WEXITSTATUS(status);
    let has = |i: u32| bits & (1 << i) != 0;
    Namespaces {
        user: has(0),
        mount: has(1),
        pid: has(2),
        net: has(3),
        ipc: has(4),
        uts: has(5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probing_is_consistent_with_proc() {
        let f = probe();
        assert!(!f.kernel.is_empty());
        // Landlock's presence shows in the LSM list when it is enabled.
        let lsm = fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
        if lsm.split(',').any(|l| l.trim() == "landlock") {
            assert!(f.landlock_abi.is_some(), "{f:?}");
        }
        if f.landlock_abi.is_none() {
            assert!(f.landlock_unavailable.is_some());
        }
        let layers = f.layers();
        assert_eq!(
            layers
                .iter()
                .filter(|l| l.name.starts_with("landlock"))
                .count(),
            6
        );
        for l in &layers {
            assert_eq!(l.available, l.missing.is_none(), "{l:?}");
        }
    }
}
