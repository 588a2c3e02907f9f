//! Manifest bytes → parse → lint → compile: never a panic.
#![no_main]

use cordon_policy::lint;
use cordon_policy::manifest;
use cordon_policy::path::Expansion;
use cordon_policy::pdp::{CompileOptions, Pdp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = manifest::parse(data, "fuzz.json") {
        let src = String::from_utf8_lossy(data);
        let _ = lint::lint(&m, Some(&src), &Expansion::placeholder());
        let _ = Pdp::compile(&m, &CompileOptions { expansion: Some(Expansion::placeholder()), policies: Vec::new() });
    }
});
