//! Template bytes → parse → render: never a panic.
#![no_main]

use std::collections::BTreeMap;

use cordon_policy::template::Template;
use libfuzzer_sys::fuzz_target;
use time::macros::datetime;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = Template::parse(data, "fuzz.json") {
        let _ = t.render("alice", None, &BTreeMap::new(), datetime!(2026-11-25 12:00 UTC));
    }
});
