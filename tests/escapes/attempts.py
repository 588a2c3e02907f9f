#!/usr/bin/env python3
"""Escape attempts run INSIDE `cordon run` by cordon's tests. Each attempt prints one line:
`BLOCKED <name>: <how>` or `ESCAPED <name>: <what happened>`. The test fails on any ESCAPED.

usage: attempts.py OUTSIDE_FILE OUTSIDE_DIR WRITABLE_DIR HOST_PORT HOST_PID HOST_ABSTRACT
                   RUN_SOCKET GRANTED_STREAM_SOCKET GRANTED_DGRAM_SOCKET
(RUN_SOCKET may be empty when the test could not bind one.)
"""
import ctypes
import errno
import os
import socket
import sys

outside_file, outside_dir, writable, host_port, host_pid, host_abstract = sys.argv[1:7]
host_port, host_pid = int(host_port), int(host_pid)
run_socket, granted_stream, granted_dgram = sys.argv[7:10]
libc = ctypes.CDLL(None, use_errno=True)
# A program the agent may read and run (its own interpreter): copies of it are what the
# execute attempts try to run, so that a failure can only come from the sandbox.
SELF = os.path.realpath(sys.executable)
with open(SELF, "rb") as f:
    SELF_BYTES = f.read()


def report(name, fn):
    try:
        what = fn()
    except OSError as e:
        print(f"BLOCKED {name}: {errno.errorcode.get(e.errno, e.errno)}", flush=True)
        return
    if what is None:
        print(f"ESCAPED {name}", flush=True)
    elif what is True:
        print(f"BLOCKED {name}: refused", flush=True)
    else:
        print(f"ESCAPED {name}: {what}", flush=True)


def check_rc(rc):
    """For ctypes calls: -1 with errno is blocked (raise), success is an escape."""
    if rc == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return f"returned {rc}"


def read(path):
    with open(path, "rb") as f:
        return f"read {len(f.read())} bytes"


# --- reading outside readPaths
report("read-outside", lambda: read(outside_file))
def via_symlink():
    link = os.path.join(writable, "link")
    os.symlink(outside_file, link)
    return read(link)
report("read-via-symlink", via_symlink)
def via_hardlink():
    link = os.path.join(writable, "hard")
    os.link(outside_file, link)
    return read(link)
report("read-via-hardlink", via_hardlink)
report("read-via-proc-self-root", lambda: read("/proc/self/root" + outside_file))
report("read-host-proc-environ", lambda: read(f"/proc/{host_pid}/environ"))
def parent_cwd():
    ppid = os.getppid()
    if ppid == 0:
        raise OSError(errno.ESRCH, "no parent visible")
    return str(os.listdir(f"/proc/{ppid}/cwd"))
report("read-parent-cwd", parent_cwd)

# --- writing outside writePaths
target = os.path.join(outside_dir, "planted")
def create():
    with open(target, "w") as f:
        f.write("x")
    return "created"
report("write-create", create)
def append():
    with open(outside_file, "a") as f:
        f.write("x")
    return "appended"
report("write-append", append)
def rename_out():
    src = os.path.join(writable, "moving")
    with open(src, "w") as f:
        f.write("x")
    os.rename(src, target)
    return "renamed out"
report("write-rename-out", rename_out)
def rename_in():
    os.rename(outside_file, os.path.join(writable, "stolen"))
    return "renamed in"
report("write-rename-in", rename_in)
report("write-unlink", lambda: (os.unlink(outside_file), "unlinked")[1])
report("write-chmod", lambda: (os.chmod(outside_file, 0o777), "chmodded")[1])
report("write-truncate", lambda: (os.truncate(outside_file, 0), "truncated")[1])
report("write-mkfifo", lambda: (os.mkfifo(os.path.join(outside_dir, "fifo")), "made a fifo")[1])

# --- executing what is not granted
def in_child(action):
    """Run `action` (which execs) in a forked child. An OSError before exec is raised here as
    blocked; a child that ran and failed on its own (e.g. the loader refused) counts as refused;
    a successful run is an escape."""
    pid = os.fork()
    if pid == 0:
        try:
            action()
        except OSError as e:
            os._exit(100 + (e.errno % 100))
        os._exit(99)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code >= 100:
        raise OSError(code - 100, "exec failed")
    return code
def run(argv, path=None):
    code = in_child(lambda: os.execv(path or argv[0], argv))
    if code != 0:
        return True  # it started but could not run (e.g. the loader refused): blocked
    return f"ran {argv}"
report("exec-not-granted", lambda: run(["/usr/bin/id"]))
report("exec-via-loader", lambda: run(["/lib64/ld-linux-x86-64.so.2", "/usr/bin/id"]))
def exec_copy():
    copy = os.path.join(writable, "mypython")
    with open(copy, "wb") as dst:
        dst.write(SELF_BYTES)
    os.chmod(copy, 0o755)
    return run([copy, "-c", "pass"])
report("exec-copy-in-writable", exec_copy)
def exec_memfd():
    fd = os.memfd_create("x", 0)
    os.write(fd, SELF_BYTES)
    in_child(lambda: os.execve(fd, ["python3", "-c", "pass"], {}))
    return "ran a memfd"
report("exec-memfd", exec_memfd)
def exec_proc_fd():
    fd = os.memfd_create("y", 0)
    os.write(fd, SELF_BYTES)
    return run(["python3", "-c", "pass"], path=f"/proc/self/fd/{fd}")
report("exec-memfd-via-proc", exec_proc_fd)
def exec_memfd_asked():
    MFD_EXEC = 0x10
    fd = libc.memfd_create(b"z", MFD_EXEC)
    return check_rc(fd)
report("memfd-create-executable", exec_memfd_asked)
# The usable side of the same code path: running the granted interpreter works, so the
# refusals above come from the sandbox and not from a broken helper.
try:
    print(f"WORKS exec-granted: {run([SELF, '-c', 'pass'])}", flush=True)
except OSError as e:
    print(f"BROKEN exec-granted: {e}", flush=True)

# --- network
def tcp_host():
    s = socket.create_connection(("127.0.0.1", host_port), timeout=2)
    s.close()
    return "connected to a host listener"
report("net-tcp-host-loopback", tcp_host)
def udp_out():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", ("192.0.2.1", 53))
    return "sent UDP off the machine"
report("net-udp-out", udp_out)
report("net-raw-socket", lambda: (socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP), "opened a raw socket")[1])
def unix_connect(address, what):
    """An attempt that connects a unix stream socket to `address`."""
    def attempt():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(address)
        return what
    return attempt
report("net-abstract-unix-host", unix_connect("\0" + host_abstract, "connected to a host abstract socket"))
def run_socket_visible():
    os.stat(run_socket)
    return "sees a host daemon's socket under /run"
if run_socket:
    report("net-unix-socket-under-run", unix_connect(run_socket, "connected to a host daemon's socket under /run"))
    report("see-unix-socket-under-run", run_socket_visible)
# Host processes' sockets inside a directory the agent may write to (an ssh ControlPath, an
# editor's server socket): the path is visible, connecting must still fail.
report("net-unix-socket-in-granted-dir", unix_connect(granted_stream, "connected to a host socket inside a granted directory"))
def granted_dgram_send():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.sendto(b"x", granted_dgram)
    return "sent a datagram to a host socket from a socket pair"
report("net-unix-dgram-pair-sendto", granted_dgram_send)
def pair_works():
    a, b = socket.socketpair()
    a.sendall(b"ok")
    return b.recv(2) == b"ok"
try:
    print(f"WORKS unix-socketpair: {pair_works()}", flush=True)
except OSError as e:
    print(f"BROKEN unix-socketpair: {e}", flush=True)
def listen():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("0.0.0.0", 0))
    s.listen(1)
    return f"listening on {s.getsockname()}"
report("net-listen", listen)

# --- other processes and the kernel
report("signal-host-process", lambda: (os.kill(host_pid, 0), "signalled a host process")[1])
PTRACE_ATTACH = 16
report("ptrace-host-process", lambda: check_rc(libc.ptrace(PTRACE_ATTACH, host_pid, None, None)))
TIOCSTI = 0x5412
report("tiocsti", lambda: check_rc(libc.ioctl(0, TIOCSTI, ctypes.c_char_p(b"x"))))
report("unshare-user", lambda: check_rc(libc.unshare(0x10000000)))
report("unshare-net", lambda: check_rc(libc.unshare(0x40000000)))
report("mount-tmpfs", lambda: check_rc(libc.mount(b"none", writable.encode(), b"tmpfs", 0, None)))
SYS_io_uring_setup = 425
params = ctypes.create_string_buffer(120)
report("io-uring", lambda: check_rc(libc.syscall(SYS_io_uring_setup, 4, params)))
SYS_bpf = 321
report("bpf", lambda: check_rc(libc.syscall(SYS_bpf, 0, None, 0)))
def caps():
    with open("/proc/self/status") as f:
        lines = [l for l in f if l.startswith(("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"))]
    held = [l.split()[0] for l in lines if int(l.split()[1], 16) != 0]
    return f"holds capabilities in {held}" if held else True
report("capabilities-left", caps)

# A child that tries to outlive the agent: cordon's test looks for it afterwards.
# It keeps this script's command line, which names the test's private directory.
if os.fork() == 0:
    os.setsid()
    import time
    time.sleep(600)
    os._exit(0)
print("DONE", flush=True)
