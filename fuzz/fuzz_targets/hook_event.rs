//! Claude Code hook JSON → parse → decide against a fixed manifest: never a panic, and an event
//! that parses always gets an answer.
#![no_main]

use std::sync::OnceLock;

use cordon_dlp::action::Actions;
use cordon_dlp::scan::Scanner;
use cordon_hook::World;
use cordon_hook::claude::{self, Context, Dlp, Settings};
use cordon_policy::manifest;
use cordon_policy::pdp::{CompileOptions, Pdp, Principal};
use libfuzzer_sys::fuzz_target;

const MANIFEST: &[u8] = br#"{"agentName":"fuzz","version":"1.0.0",
 "readPaths":["/home/user/project"],"writePaths":["/home/user/project/src"],"denyPaths":["/home/user/project/.env"],
 "networkScopes":["https://docs.example.com"],"apiScopes":["tracker:read"],
 "apis":{"tracker:read":{"mcpTools":[{"server":"tracker","tool":"get"}]}},
 "commandsAllowed":["/usr/bin/cat",{"path":"/usr/bin/git","args":["log","**"]}],
 "requiresApproval":["write:/home/user/project/src/release"]}"#;

struct Fixed;

impl World for Fixed {
    fn home(&self) -> &str {
        "/home/user"
    }
    fn which(&self, name: &str) -> Option<String> {
        matches!(name, "cat" | "git" | "curl" | "bash").then(|| format!("/usr/bin/{name}"))
    }
    fn exists(&self, path: &str) -> bool {
        path.ends_with(".env")
    }
}

fn parts() -> &'static (Pdp, Scanner) {
    static PARTS: OnceLock<(Pdp, Scanner)> = OnceLock::new();
    PARTS.get_or_init(|| {
        let m = manifest::parse(MANIFEST, "fuzz.json").expect("fixed manifest parses");
        let pdp = Pdp::compile(&m, &CompileOptions::default()).expect("fixed manifest compiles");
        (pdp, Scanner::builtin().expect("built-in rules compile"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = claude::parse(data) else { return };
    let (pdp, scanner) = parts();
    let actions = Actions::default();
    let ctx = Context {
        principal: Principal::default(),
        time: time::OffsetDateTime::UNIX_EPOCH,
    };
    let answer = claude::decide(&input, pdp, Dlp { scanner, actions: &actions }, &Fixed, &Settings::default(), &ctx);
    let _ = answer.output();
});
