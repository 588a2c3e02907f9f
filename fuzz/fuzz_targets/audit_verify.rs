//! Audit log lines → verify: never a panic, and the records it counts as good are a prefix.
#![no_main]

use cordon_audit::verify::verify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lines: Vec<&str> = text.lines().collect();
    let report = verify(lines.iter().copied());
    assert!(report.records <= lines.len() as u64);
    if let Some(p) = report.problem {
        assert_eq!(p.line as u64, report.records + 1);
    }
});
