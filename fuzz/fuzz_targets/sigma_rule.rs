//! Sigma rule text → load, check, and run over a few events: never a panic; a rule that loads
//! either evaluates or was refused with a message.
#![no_main]

use cordon_detect::engine::Engine;
use cordon_detect::rule::RuleSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut set = RuleSet::default();
    if set.load("fuzz.yml", text).is_err() || set.check().is_err() {
        return;
    }
    let mut engine = Engine::new(set);
    let events = [
        serde_json::json!({"class_uid": 4002, "time": 1_750_000_000_000i64,
            "file": {"path": "/home/a/.ssh/id_rsa"}, "src_endpoint": {"ip": "10.0.0.1"},
            "unmapped": {"cordon": {"decision": "deny", "agent": "a", "dlp": [{"classification": "secret"}]}}}),
        serde_json::json!({"time": "2025-06-15T15:06:40Z", "n": 3.5, "b": true, "x": null}),
        serde_json::json!([1, 2, 3]),
    ];
    for (i, e) in events.iter().enumerate() {
        let _ = engine.process(i as u64, e);
    }
});
