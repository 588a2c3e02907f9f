//! The seccomp filter: a deny list of system calls an agent never needs and that would let it
//! leave or weaken the sandbox. Denied calls fail with `EPERM` (`ENOSYS` for `clone3`, so that
//! C libraries fall back to `clone`, whose flags the filter can inspect).

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Why the filter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the seccomp filter: {0}")]
pub struct FilterError(String);

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// System calls denied outright.
fn denied() -> Vec<i64> {
    let mut calls = vec![
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_userfaultfd,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_open_tree,
        libc::SYS_move_mount,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_mount_setattr,
        libc::SYS_name_to_handle_at,
        libc::SYS_open_by_handle_at,
        libc::SYS_lookup_dcookie,
        libc::SYS_acct,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_adjtimex,
        libc::SYS_clock_adjtime,
        libc::SYS_sethostname,
        libc::SYS_setdomainname,
        libc::SYS_pidfd_getfd,
        // Running a file by descriptor (memfd_create + fexecve) bypasses path-based execute
        // rights; programs use execve.
        libc::SYS_execveat,
        libc::SYS_vhangup,
        libc::SYS_quotactl,
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        libc::SYS_iopl,
        libc::SYS_ioperm,
        libc::SYS_uselib,
        libc::SYS_nfsservctl,
        libc::SYS_umount2,
    ]);
    calls.sort_unstable();
    calls.dedup();
    calls
}

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, FilterError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value)
        .map_err(|e| FilterError(e.to_string()))
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, FilterError> {
    SeccompRule::new(conditions).map_err(|e| FilterError(e.to_string()))
}

/// Which unix sockets the agent may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnixSockets {
    /// Any (Landlock decides which path-named sockets it may connect to).
    Allowed,
    /// Only connected stream or sequenced-packet pairs (`socketpair`): `socket(AF_UNIX, …)`
    /// is refused, and so are datagram pairs, which could still `sendto` any path.
    PairsOnly,
}

/// Build the filter programs for the agent, to be installed in order: the deny list (`EPERM`)
/// and the `clone3` filter (`ENOSYS`). The kernel runs every installed filter and the most
/// restrictive answer wins.
pub fn agent_filters(unix: UnixSockets) -> Result<Vec<BpfProgram>, FilterError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        denied().into_iter().map(|s| (s, Vec::new())).collect();
    if unix == UnixSockets::PairsOnly {
        let af_unix = libc::AF_UNIX as u64;
        rules.insert(
            libc::SYS_socket,
            vec![rule(vec![cond(0, SeccompCmpOp::Eq, af_unix)?])?],
        );
        rules.insert(
            libc::SYS_socketpair,
            vec![rule(vec![
                cond(0, SeccompCmpOp::Eq, af_unix)?,
                cond(
                    1,
                    SeccompCmpOp::MaskedEq(SOCK_TYPE_MASK),
                    libc::SOCK_DGRAM as u64,
                )?,
            ])?],
        );
    }
    // clone with any namespace flag (one rule per flag: rules are ORed).
    rules.insert(libc::SYS_clone, flag_rules(0, &NAMESPACE_BITS)?);
    // personality changes that weaken address-space randomisation or protections.
    rules.insert(
        libc::SYS_personality,
        flag_rules(0, &UNSAFE_PERSONALITY_BITS)?,
    );
    // Executable memory files (see the launcher's memfd_noexec).
    rules.insert(libc::SYS_memfd_create, flag_rules(1, &[MFD_EXEC])?);
    // Injecting keystrokes into the launching terminal.
    rules.insert(
        libc::SYS_ioctl,
        vec![
            rule(vec![cond(1, SeccompCmpOp::Eq, libc::TIOCSTI)?])?,
            rule(vec![cond(1, SeccompCmpOp::Eq, libc::TIOCLINUX)?])?,
        ],
    );
    let deny_list = compile(rules, libc::EPERM)?;
    // clone3 passes its flags in memory, out of the filter's sight: make it look absent so the
    // C library falls back to clone.
    let clone3 = compile(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        libc::ENOSYS,
    )?;
    Ok(vec![deny_list, clone3])
}

/// For kernels or namespaces where `vm.memfd_noexec` cannot be raised: refuse memory files
/// unless created with `MFD_NOEXEC_SEAL` (fail closed; programs that need a plain memfd get
/// `EPERM`).
pub fn memfd_fallback_filter() -> Result<BpfProgram, FilterError> {
    let rules = BTreeMap::from([(
        libc::SYS_memfd_create,
        vec![rule(vec![cond(
            1,
            SeccompCmpOp::MaskedEq(MFD_NOEXEC_SEAL),
            0,
        )?])?],
    )]);
    compile(rules, libc::EPERM)
}

/// One rule per bit: matches when `arg & bit == bit`.
fn flag_rules(arg: u8, bits: &[u64]) -> Result<Vec<SeccompRule>, FilterError> {
    bits.iter()
        .map(|&bit| rule(vec![cond(arg, SeccompCmpOp::MaskedEq(bit), bit)?]))
        .collect()
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    errno: libc::c_int,
) -> Result<BpfProgram, FilterError> {
    let errno = u32::try_from(errno).map_err(|e| FilterError(e.to_string()))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno),
        ARCH,
    )
    .map_err(|e| FilterError(e.to_string()))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| FilterError(e.to_string()))
}

/// The socket type bits of `socket`/`socketpair`'s type argument (the rest are flags).
const SOCK_TYPE_MASK: u64 = 0xf;

/// `memfd_create` flag asking for an executable memory file.
const MFD_EXEC: u64 = 0x10;
/// `memfd_create` flag sealing the memory file non-executable.
const MFD_NOEXEC_SEAL: u64 = 0x8;

const NAMESPACE_BITS: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

const UNSAFE_PERSONALITY_BITS: [u64; 4] = [
    libc::ADDR_NO_RANDOMIZE as u64,
    libc::READ_IMPLIES_EXEC as u64,
    libc::ADDR_COMPAT_LAYOUT as u64,
    libc::MMAP_PAGE_ZERO as u64,
];
