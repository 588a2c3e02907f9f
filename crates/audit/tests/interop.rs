//! A chain written by an independent implementation (Python's `json.dumps(sort_keys=True,
//! separators=(",", ":"), ensure_ascii=False)` and `hashlib.sha256`, see the comment in the
//! fixture's test) verifies, and one cordon seals continues it: both agree on the canonical form.

use cordon_audit::chain::Chain;
use cordon_audit::verify::{verify, verify_from};

const PYTHON_CHAIN: &str = include_str!("fixtures/python-chain.jsonl");

#[test]
fn a_chain_written_by_python_verifies_and_continues() {
    // Made by:
    //   rec = {"event": {"class_uid": 3001, "n": i}, "prev": prev, "seq": i, "time": "2026-11-26T10:00:00Z"}
    //   rec["hash"] = sha256(json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    let report = verify(PYTHON_CHAIN.lines());
    assert_eq!((report.records, report.problem), (3, None));
    let mut chain = Chain::after(2, &report.last_hash);
    let next = chain.seal(
        "2026-11-26T10:00:01Z",
        serde_json::json!({"class_uid": 3001, "n": 3}),
    );
    let more = verify_from([next.line.as_str()], 3, &report.last_hash);
    assert_eq!((more.records, more.problem), (1, None));
}
