//! Malformed input is an error with a position, never a panic and never an accepted document.

use cordon_policy::dsse::Envelope;
use cordon_policy::manifest;
use cordon_policy::pdp::Request;
use cordon_policy::trust::TrustStore;

fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let big = format!(
        r#"{{"agentName":"{}","version":"1.0.0"}}"#,
        "a".repeat(10 << 20)
    );
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_obj = format!(
        r#"{{"agentName":"a","version":"1.0.0","dlp":{}}}"#,
        "{\"a\":".repeat(10_000)
    );
    vec![
        ("empty", Vec::new()),
        ("whitespace", b"  \n\t ".to_vec()),
        ("truncated", br#"{"agentName":"a","version":"1.0"#.to_vec()),
        (
            "wrong type",
            br#"{"agentName":"a","version":"1.0.0","readPaths":"/home"}"#.to_vec(),
        ),
        (
            "wrong type deep",
            br#"{"agentName":"a","version":"1.0.0","limits":{"processes":"many"}}"#.to_vec(),
        ),
        (
            "negative",
            br#"{"agentName":"a","version":"1.0.0","limits":{"processes":-1}}"#.to_vec(),
        ),
        ("10 MB string", big.into_bytes()),
        ("10,000-deep arrays", deep.into_bytes()),
        ("10,000-deep objects", deep_obj.into_bytes()),
        (
            "invalid UTF-8",
            b"{\"agentName\":\"\xff\xfe\",\"version\":\"1.0.0\"}".to_vec(),
        ),
        (
            "NUL",
            b"{\"agentName\":\"a\0\",\"version\":\"1.0.0\"}".to_vec(),
        ),
        (
            "trailing garbage",
            br#"{"agentName":"a","version":"1.0.0"} x"#.to_vec(),
        ),
        (
            "duplicate field",
            br#"{"agentName":"a","agentName":"b","version":"1.0.0"}"#.to_vec(),
        ),
        ("not an object", b"[1,2,3]".to_vec()),
        ("null", b"null".to_vec()),
    ]
}

#[test]
fn manifests() {
    for (what, bytes) in inputs() {
        let err = manifest::parse(&bytes, "m.json").expect_err(what);
        assert!(!err.problems.is_empty(), "{what}");
        for p in &err.problems {
            assert!(p.line >= 1 && p.column >= 1, "{what}: {p:?}");
            assert!(!p.message.is_empty(), "{what}");
        }
    }
}

#[test]
fn envelopes_requests_and_trust_stores() {
    for (what, bytes) in inputs() {
        assert!(
            Envelope::parse(&bytes, "e.json").is_err(),
            "envelope: {what}"
        );
        assert!(Request::from_json(&bytes).is_err(), "request: {what}");
        assert!(
            TrustStore::parse(&bytes, "t.json").is_err(),
            "trust store: {what}"
        );
    }
}

#[test]
fn errors_name_field_line_and_column() {
    let src = "{\n  \"agentName\": \"a\",\n  \"version\": \"1.0.0\",\n  \"readPaths\": [\"/ok\", \"relative/x\"],\n  \"readPath\": []\n}";
    let err = manifest::parse(src.as_bytes(), "m.json").unwrap_err();
    let p = &err.problems[0];
    assert_eq!(
        (p.code.as_str(), p.line),
        ("manifest::unknown-field", 5),
        "{p:?}"
    );
    assert_eq!(p.help.as_deref(), Some("did you mean `readPaths`?"));

    let src = "{\n  \"agentName\": \"a\",\n  \"version\": \"1.0.0\",\n  \"readPaths\": [\"/ok\", \"relative/x\", \"/a/../b\"],\n  \"networkScopes\": [\"https://a.*.com\"]\n}";
    let err = manifest::parse(src.as_bytes(), "m.json").unwrap_err();
    let got: Vec<(&str, &str, usize, usize)> = err
        .problems
        .iter()
        .map(|p| (p.code.as_str(), p.field.as_str(), p.line, p.column))
        .collect();
    assert_eq!(
        got,
        [
            ("manifest::path", "/readPaths/1", 4, 24),
            ("manifest::path", "/readPaths/2", 4, 38),
            ("manifest::network-scope", "/networkScopes/0", 5, 21),
        ]
    );

    let err = manifest::parse(
        br#"{"agentName":"a","version":"1.0.0","readPaths":[1]}"#,
        "m.json",
    )
    .unwrap_err();
    assert_eq!(
        (
            err.problems[0].code.as_str(),
            err.problems[0].field.as_str()
        ),
        ("manifest::type", "/readPaths/0")
    );
}

#[test]
fn requests_refuse_grants_and_stray_fields() {
    let err = Request::from_json(br#"{"action":"read","path":"/a","grants":["x"]}"#).unwrap_err();
    assert!(
        err.problems[0]
            .help
            .as_deref()
            .unwrap()
            .contains("verified approval tokens")
    );
    assert!(Request::from_json(br#"{"action":"read","url":"https://x"}"#).is_err());
    assert!(
        Request::from_json(br#"{"action":"network","url":"https://u:p@x.example.com/"}"#).is_err()
    );
    assert!(Request::from_json(br#"{"action":"network","url":"file:///etc/passwd"}"#).is_err());
    assert!(Request::from_json(br#"{"action":"read","path":"/a","time":"yesterday"}"#).is_err());
    assert!(Request::from_json(br#"{"action":"teleport","path":"/a"}"#).is_err());
}
