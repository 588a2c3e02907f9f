//! Audit log text → verify: never a panic, the records it counts as good are a prefix, and the
//! log read as segment text (split and checked on every core) gets the same report as its lines.
#![no_main]

use cordon_audit::chain::GENESIS;
use cordon_audit::verify::{Lines, verify, verify_lines};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lines: Vec<&str> = text.lines().collect();
    let report = verify(lines.iter().copied());
    assert!(report.records <= lines.len() as u64);
    if let Some(p) = &report.problem {
        assert_eq!(p.line as u64, report.records + 1);
    }
    // The same text as two segments, cut after a newline near its middle.
    let cut = text
        .get(text.len() / 2..)
        .and_then(|rest| rest.find('\n'))
        .map_or(text.len(), |i| text.len() / 2 + i + 1);
    let (a, b) = text.split_at(cut);
    let log = Lines::of_segments(&[a, b]);
    assert_eq!(log.as_slice(), &lines[..]);
    assert_eq!(verify_lines(&log, 0, GENESIS), report);
});
