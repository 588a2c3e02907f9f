//! The egress bridge: inside the sandbox's network namespace, a listener on loopback forwards
//! every connection to a unix socket on the host where cordon's egress proxy listens. It is the
//! agent's only way out: Landlock lets the agent connect to this one TCP port and nothing else,
//! and the namespace has no other interface.
//!
//! The bridge runs in the setup process (in the agent's network namespace, outside its PID
//! namespace, Landlock and seccomp domain, so the agent can neither see nor signal it). A process
//! that created a PID namespace cannot start threads, so the bridge is one `poll(2)` loop that
//! also watches the agent through a pidfd and ends when the agent exits. It only copies bytes and
//! decides nothing. When nothing listens on the host socket, each connection is closed at once:
//! every outbound connection fails, as it should.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Where the bridge listens and where it forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// TCP port on the namespace's loopback (the agent's proxy address is `127.0.0.1:port`).
    pub port: u16,
    /// Unix socket on the host where the egress proxy listens.
    pub socket: PathBuf,
}

/// Connections forwarded at once at most; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 256;
/// Bytes buffered per direction of a connection.
const CHUNK: usize = 64 * 1024;

/// Bind the bridge's listener (before the agent starts, so its first connect finds it).
pub fn bind(bridge: &Bridge) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(("127.0.0.1", bridge.port))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// One direction of a connection: bytes read from one side, waiting to be written to the other.
#[derive(Debug, Default)]
struct Pipe {
    pending: Vec<u8>,
    written: usize,
    eof: bool,
    closed: bool,
}

#[derive(Debug)]
struct Pair {
    tcp: TcpStream,
    unix: UnixStream,
    up: Pipe,
    down: Pipe,
}

impl Pair {
    fn done(&self) -> bool {
        self.up.closed && self.down.closed
    }

    /// What to wait for on each socket: reading when its outgoing buffer is drained, writing
    /// when bytes for it are pending. A socket with nothing to wait for is left out (fd -1), so
    /// the loop never spins.
    fn interest(&self) -> [libc::pollfd; 2] {
        let events = |read_from: &Pipe, write_to: &Pipe| {
            let mut ev = 0;
            if !read_from.eof && read_from.written >= read_from.pending.len() {
                ev |= libc::POLLIN;
            }
            if write_to.written < write_to.pending.len() {
                ev |= libc::POLLOUT;
            }
            ev
        };
        let entry = |fd: RawFd, ev: libc::c_short| pollfd(if ev == 0 { -1 } else { fd }, ev);
        [
            entry(self.tcp.as_raw_fd(), events(&self.up, &self.down)),
            entry(self.unix.as_raw_fd(), events(&self.down, &self.up)),
        ]
    }
}

/// Move bytes from `from` to `to` as far as they go without blocking.
fn pump<R: Read, W: Write + ShutdownWrite>(p: &mut Pipe, from: &mut R, to: &mut W) {
    loop {
        if p.written < p.pending.len() {
            match to.write(p.pending.get(p.written..).unwrap_or_default()) {
                Ok(0) => {
                    p.closed = true;
                    return;
                }
                Ok(n) => p.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    p.closed = true;
                    return;
                }
            }
            continue;
        }
        if p.eof {
            if !p.closed {
                to.shutdown_write();
                p.closed = true;
            }
            return;
        }
        p.pending.resize(CHUNK, 0);
        p.written = 0;
        match from.read(&mut p.pending) {
            Ok(0) => {
                p.pending.clear();
                p.eof = true;
            }
            Ok(n) => p.pending.truncate(n),
            Err(e) => {
                p.pending.clear();
                match e.kind() {
                    io::ErrorKind::WouldBlock => return,
                    io::ErrorKind::Interrupted => {}
                    _ => p.eof = true,
                }
            }
        }
    }
}

trait ShutdownWrite {
    fn shutdown_write(&mut self);
}

fn connect(tcp: TcpStream, socket: &Path) -> Option<Pair> {
    let unix = UnixStream::connect(socket).ok()?;
    unix.set_nonblocking(true).ok()?;
    tcp.set_nonblocking(true).ok()?;
    Some(Pair {
        tcp,
        unix,
        up: Pipe::default(),
        down: Pipe::default(),
    })
}

fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// Forward connections until the agent (`agent`, a child of this process) exits.
pub fn serve_until_exit(listener: &TcpListener, socket: &Path, agent: libc::pid_t) {
    // SAFETY: pidfd_open takes a pid and flags; it returns a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, agent, 0) };
    let Ok(raw) = RawFd::try_from(raw) else {
        return;
    };
    if raw < 0 {
        return;
    }
    // SAFETY: pidfd_open returned a fresh descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut pairs: Vec<Pair> = Vec::new();
    loop {
        let mut fds = vec![
            pollfd(pidfd.as_raw_fd(), libc::POLLIN),
            pollfd(
                listener.as_raw_fd(),
                if pairs.len() < MAX_CONNECTIONS {
                    libc::POLLIN
                } else {
                    0
                },
            ),
        ];
        for p in &pairs {
            fds.extend(p.interest());
        }
        let n = libc::nfds_t::try_from(fds.len()).unwrap_or(0);
        // SAFETY: `fds` is a valid array of `n` pollfd structures for the duration of the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), n, -1) };
        if ready < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fds.first().is_some_and(|f| f.revents != 0) {
            return;
        }
        while pairs.len() < MAX_CONNECTIONS {
            match listener.accept() {
                Ok((tcp, _)) => {
                    if let Some(pair) = connect(tcp, socket) {
                        pairs.push(pair);
                    }
                }
                Err(_) => break,
            }
        }
        for p in &mut pairs {
            let (mut tcp_r, mut tcp_w) = (&p.tcp, &p.tcp);
            let (mut unix_r, mut unix_w) = (&p.unix, &p.unix);
            pump(&mut p.up, &mut tcp_r, &mut unix_w);
            pump(&mut p.down, &mut unix_r, &mut tcp_w);
        }
        pairs.retain(|p| !p.done());
    }
}

impl ShutdownWrite for &TcpStream {
    fn shutdown_write(&mut self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

impl ShutdownWrite for &UnixStream {
    fn shutdown_write(&mut self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}
