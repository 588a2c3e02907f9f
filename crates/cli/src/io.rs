//! Files in and out, at the edge: size-capped reads, `-` for stdin, private files created 0600,
//! and the current time.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// No input cordon reads is bigger than this; larger files are refused before they are read
/// whole (parsers have tighter limits of their own).
pub const MAX_INPUT_BYTES: u64 = 16 << 20;

/// Read a file (or stdin for `-`), refusing anything over [`MAX_INPUT_BYTES`].
pub fn read(path: &str) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let reader: Box<dyn Read> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        let meta = fs::metadata(path).with_context(|| format!("cannot read `{path}`"))?;
        if meta.is_dir() {
            bail!("`{path}` is a directory, not a file");
        }
        Box::new(fs::File::open(path).with_context(|| format!("cannot read `{path}`"))?)
    };
    reader
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("cannot read `{path}`"))?;
    if buf.len() as u64 > MAX_INPUT_BYTES {
        bail!(
            "`{path}` is larger than {} MiB; cordon does not read inputs that large",
            MAX_INPUT_BYTES >> 20
        );
    }
    Ok(buf)
}

/// Read a UTF-8 text file.
pub fn read_text(path: &str) -> anyhow::Result<String> {
    String::from_utf8(read(path)?).with_context(|| format!("`{path}` is not UTF-8 text"))
}

/// Write a file (or stdout for `-`), replacing it atomically.
pub fn write(path: &str, contents: &str) -> anyhow::Result<()> {
    if path == "-" {
        std::io::stdout().write_all(contents.as_bytes())?;
        return Ok(());
    }
    write_file(path, contents, 0o644, true)
}

/// Write a secret file with mode 0600; refuse to replace an existing one unless `replace`.
pub fn write_private(path: &str, contents: &str, replace: bool) -> anyhow::Result<()> {
    write_file(path, contents, 0o600, replace)
}

/// Write a file with `mode`, atomically; refuse to replace an existing one unless `replace`.
pub fn write_file(path: &str, contents: &str, mode: u32, replace: bool) -> anyhow::Result<()> {
    let target = Path::new(path);
    if !replace && target.exists() {
        bail!("`{path}` exists; not replacing it (use --force to replace)");
    }
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot write in `{}`", dir.display()))?;
    let written = file
        .write_all(contents.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write `{path}`"));
    }
    fs::rename(&tmp, target).with_context(|| format!("cannot write `{path}`"))?;
    Ok(())
}

/// The time to decide at: `--time` if given, else now.
pub fn now_or(time: Option<&str>) -> anyhow::Result<OffsetDateTime> {
    match time {
        None => Ok(OffsetDateTime::now_utc()),
        Some(t) => OffsetDateTime::parse(t, &Rfc3339).with_context(|| {
            format!("`--time {t}` is not an RFC 3339 time such as 2026-11-25T12:00:00Z")
        }),
    }
}

/// The current user and home directory, from the environment (the edge is where it is read).
pub fn current_user() -> (String, String) {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "user".to_owned());
    let home = std::env::var("HOME")
        .ok()
        .filter(|h| h.starts_with('/'))
        .unwrap_or_else(|| format!("/home/{user}"));
    (user, home)
}
