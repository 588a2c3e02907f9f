use super::*;
use crate::chain::Chain;
use serde_json::json;

fn log(n: u64) -> Vec<String> {
    let mut c = Chain::new();
    (0..n)
        .map(|i| {
            c.seal(
                "2026-11-26T10:00:00Z",
                json!({"class_uid": 3001, "n": i, "decision": "allow"}),
            )
            .line
        })
        .collect()
}

/// The report on `lines`, which must be the same whether they are verified as lines or as
/// the text of two segments (split and checked on every core when long).
fn check(lines: &[String]) -> Report {
    let report = verify(lines.iter().map(String::as_str));
    let half = lines.len() / 2;
    let segment = |part: &[String]| -> String { part.iter().map(|l| format!("{l}\n")).collect() };
    let segments = [segment(&lines[..half]), segment(&lines[half..])];
    let texts: Vec<&str> = segments.iter().map(String::as_str).collect();
    assert_eq!(
        verify_lines(&Lines::of_segments(&texts), 0, GENESIS),
        report
    );
    report
}

fn problem(lines: &[String]) -> Problem {
    check(lines)
        .problem
        .unwrap_or_else(|| unreachable!("tampering went unnoticed"))
}

#[test]
fn an_untouched_log_verifies() {
    let r = check(&log(50));
    assert_eq!((r.records, r.problem), (50, None));
    assert_eq!(check(&[]).records, 0);
}

#[test]
fn an_edited_record_is_named() {
    let mut l = log(10);
    l[4] = l[4].replace("\"allow\"", "\"deny\"");
    let p = problem(&l);
    assert_eq!((p.line, p.seq, p.kind), (5, Some(4), Tampering::Edited));
    assert_eq!(check(&l).records, 4);
}

#[test]
fn a_deleted_record_is_named() {
    let mut l = log(10);
    l.remove(3);
    let p = problem(&l);
    assert_eq!(
        (p.line, p.seq, p.kind),
        (4, Some(4), Tampering::Deleted { count: 1 })
    );
}

#[test]
fn an_inserted_record_is_named() {
    // A copy of an earlier record placed later.
    let mut l = log(10);
    let copy = l[2].clone();
    l.insert(6, copy);
    let p = problem(&l);
    assert_eq!((p.line, p.kind), (7, Tampering::Inserted { seq: 2 }));
    // A fabricated record with a fresh hash, slipped in after record 5: the record that
    // really follows 5 then repeats its number.
    let mut l = log(10);
    let hash_of_5: Value = serde_json::from_str(&l[5]).unwrap();
    let mut c = Chain::after(5, hash_of_5["hash"].as_str().unwrap());
    let forged = c.seal("2026-11-26T10:00:00Z", json!({"n": "forged"})).line;
    l.insert(6, forged);
    let p = problem(&l);
    assert_eq!((p.line, p.kind), (8, Tampering::Inserted { seq: 6 }));
}

#[test]
fn reordered_records_are_named() {
    let mut l = log(10);
    l.swap(3, 4);
    let p = problem(&l);
    assert_eq!((p.line, p.seq, p.kind), (4, Some(4), Tampering::Reordered));
}

#[test]
fn a_relinked_record_is_named() {
    // Content and hash consistent, but pointing at the wrong predecessor.
    let mut l = log(3);
    let mut c = Chain::after(1, "f".repeat(64).as_str());
    l[2] = c.seal("2026-11-26T10:00:00Z", json!({"n": 2})).line;
    let p = problem(&l);
    assert_eq!((p.line, p.kind), (3, Tampering::Unlinked));
}

#[test]
fn malformed_lines_are_named() {
    for bad in [
        "",
        "not json",
        "[]",
        r#"{"seq":0}"#,
        r#"{"hash":"x","seq":"0","prev":"","time":"t","event":1}"#,
    ] {
        let mut l = log(3);
        l[1] = bad.to_owned();
        let p = problem(&l);
        assert_eq!(p.line, 2, "{bad}");
        assert!(
            matches!(p.kind, Tampering::Malformed(_)),
            "{bad}: {:?}",
            p.kind
        );
    }
}

#[test]
fn a_log_continues_across_a_reopen() {
    let l = log(6);
    let first = check(&l[..3]);
    let rest = verify_from(
        l[3..].iter().map(String::as_str),
        first.records,
        &first.last_hash,
    );
    assert_eq!((rest.records, rest.problem), (3, None));
}

proptest::proptest! {
    /// Changing any one byte of any record (to another printable byte) is always found, at
    /// that record or before.
    #[test]
    fn any_single_byte_change_is_found(n in 1u64..12, pick in 0usize..1000, pos in 0usize..1000, byte in 0x20u8..0x7f) {
        let mut l = log(n);
        let i = pick % l.len();
        let mut bytes = l[i].clone().into_bytes();
        let j = pos % bytes.len();
        proptest::prop_assume!(bytes[j] != byte);
        bytes[j] = byte;
        l[i] = String::from_utf8(bytes).unwrap();
        let r = check(&l);
        let p = r.problem.expect("found");
        proptest::prop_assert!(p.line <= i + 1);
    }
}

#[test]
fn the_in_place_reading_agrees_with_the_general_one() {
    // Events that carry the record's own member names, quotes and escapes inside them.
    let mut c = Chain::new();
    let events = [
        json!({"n": 1}),
        json!({"hash": "0".repeat(64), "prev": "f".repeat(64), "seq": 7, "time": "x"}),
        json!({"s": ",\"hash\":\"", "t": ",\"time\":\"\"}", "u": "\\\"}"}),
        json!([1, {"event": {"seq": 0}}]),
        json!("just a string"),
    ];
    for e in events {
        let line = c.seal("2026-11-26T10:00:00.123Z", e).line;
        let fast =
            parse_canonical(&line).unwrap_or_else(|| unreachable!("not read in place: {line}"));
        let general = parse_general(&line).unwrap();
        assert!(fast.hash_ok && general.hash_ok, "{line}");
        assert_eq!(
            (fast.seq, fast.prev, fast.hash),
            (general.seq, general.prev, general.hash)
        );
    }
    // Another layout of the same record (a tool that re-wrote the file with spaces) is read by
    // the general reader, which hashes its canonical form: the same record.
    let line = c.seal("t", json!({"n": 2})).line;
    let spaced = line.replace("\",\"prev\"", "\", \"prev\"");
    assert!(parse_canonical(&spaced).is_none());
    assert!(parse_general(&spaced).is_ok_and(|p| p.hash_ok));
}

#[test]
fn long_logs_verified_on_every_core_name_the_same_records() {
    let mut l = log(9_000);
    assert_eq!(check(&l).records, 9_000);
    // An edit late in the log, in another thread's share.
    l[7_777] = l[7_777].replace("\"allow\"", "\"deny\"");
    let p = problem(&l);
    assert_eq!(
        (p.line, p.seq, p.kind),
        (7_778, Some(7_777), Tampering::Edited)
    );
    // A deletion near a boundary between shares.
    let mut l = log(9_000);
    l.remove(4_500);
    let p = problem(&l);
    assert_eq!((p.line, p.seq), (4_501, Some(4_501)));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Splitting a log's segments, on one core or several, gives exactly `str::lines`.
    #[test]
    fn lines_are_split_as_str_lines_splits_them(
        parts in proptest::collection::vec("[a\r\n]{0,40}", 0..6),
        big in 0usize..3,
    ) {
        let mut segments = parts.clone();
        // Long enough to be split on several cores.
        for _ in 0..big {
            segments.push("r\n".repeat(PARALLEL_FROM / 2 + 7) + "\r\nx\r");
        }
        let texts: Vec<&str> = segments.iter().map(String::as_str).collect();
        let expected: Vec<&str> = texts.iter().flat_map(|t| t.lines()).collect();
        proptest::prop_assert_eq!(lines(&texts), expected);
    }
}
