//! A command line → shell parser → PDP requests: never a panic, and a line that parses is
//! either fully checked or says what it could not resolve.
#![no_main]

use cordon_hook::{World, bash, shell};
use libfuzzer_sys::fuzz_target;

struct Fixed;

impl World for Fixed {
    fn home(&self) -> &str {
        "/home/user"
    }
    fn which(&self, name: &str) -> Option<String> {
        (name.len() < 12 && name.bytes().all(|b| b.is_ascii_lowercase())).then(|| format!("/usr/bin/{name}"))
    }
    fn exists(&self, path: &str) -> bool {
        path.len() % 3 == 0
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    let _ = shell::parse(line, "/home/user");
    let _ = bash::plan(line, "/home/user/project", &Fixed);
});
