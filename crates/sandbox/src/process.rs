//! Signals to helper processes cordon starts beside the agent (the egress proxy), which the
//! standard library can only kill outright.

use std::io;
use std::process::Child;

/// Ask `child` to stop with SIGTERM, so it can finish what it is recording.
pub fn terminate(child: &Child) -> io::Result<()> {
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| io::Error::other("process id out of range"))?;
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; `pid` is the id of a
    // child we have not yet waited for, so it cannot have been reused by another process.
    if unsafe { libc::kill(pid, libc::SIGTERM) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
