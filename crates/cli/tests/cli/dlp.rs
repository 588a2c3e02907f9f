//! `cordon dlp`: the rule check CI runs, scans of real files (text, binary, invalid UTF-8,
//! Office documents with sensitivity labels, a zip bomb, a truncated document, a file larger
//! than memory allows), the three report formats, actions from a manifest, and redaction.

use crate::{Sandbox, json, with_stdin};

/// An AWS access key ID and a card number that are not anyone's.
const AWS_KEY: &str = "AKIAQ3EGVJZ4X7NPL2WB";
const CARD: &str = "4111 1111 1111 1111";

#[test]
fn rules_check_runs_every_example_and_refuses_bad_rules() {
    let s = Sandbox::new();
    let out = s.expect(0, &["dlp", "rules", "check"]);
    assert!(out.contains("all behave"), "{out}");
    let v = json(&s.expect(0, &["dlp", "rules", "check", "--format", "json"]));
    assert!(v["rules"].as_u64().unwrap() >= 400, "{v}");
    assert_eq!(v["failures"], serde_json::json!([]));
    // An organisation's own rule whose example does not match: exit 1, named.
    s.write(
        "ours.toml",
        "[[rules]]\nid = 'acme-token'\nname = 'ACME token'\nclassification = 'secret'\nkeywords = ['acme_']\npattern = '''acme_[a-z0-9]{16}'''\nexamples = ['acme_0123456789abcdeF']\ncounterexamples = ['acme_short']\n",
    );
    let out = s.expect(
        1,
        &[
            "dlp",
            "rules",
            "check",
            "--no-builtin",
            "--rules",
            "ours.toml",
        ],
    );
    assert!(
        out.contains("FAIL acme-token: example did not match"),
        "{out}"
    );
    // An invalid rule file: exit 2, naming the file and the rule.
    s.write(
        "bad.toml",
        "[[rules]]\nid = 'greedy'\nname = 'x'\nclassification = 'secret'\nkeywords = ['abc']\npattern = 'abc.*'\nexamples = ['abcd']\ncounterexamples = ['x']\n",
    );
    let err = s.stderr_of(2, &["dlp", "rules", "check", "--rules", "bad.toml"]);
    assert!(
        err.contains("bad.toml") && err.contains("greedy") && err.contains("no maximum length"),
        "{err}"
    );
    let list = s.expect(0, &["dlp", "rules", "list"]);
    assert!(list.contains("aws-access-key-id") && list.contains("payment-card-number"));
}

/// A zip archive written by Python's `zipfile` (an independent writer).
fn python_zip(path: &str, parts: &[(&str, &str)], compress: bool) {
    let mut script = format!(
        "import zipfile\nz = zipfile.ZipFile({path:?}, 'w', {})\n",
        if compress {
            "zipfile.ZIP_DEFLATED"
        } else {
            "zipfile.ZIP_STORED"
        }
    );
    for (name, data) in parts {
        script.push_str(&format!("z.writestr({name:?}, {data})\n"));
    }
    script.push_str("z.close()\n");
    let st = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .status()
        .unwrap();
    assert!(st.success(), "{script}");
}

fn scan_tree(s: &Sandbox) {
    std::fs::create_dir_all(s.dir.path().join("repo/.git")).unwrap();
    s.write(
        "repo/config.env",
        &format!("# deploy\nAWS_ACCESS_KEY_ID={AWS_KEY}\n"),
    );
    s.write(
        "repo/notes.md",
        &format!("Customer paid with card {CARD} yesterday.\n"),
    );
    s.write(
        "repo/clean.rs",
        "let token = tokenizer.next_token();\nlet password = prompt();\n",
    );
    s.write("repo/.git/config", &format!("token = {AWS_KEY}\n"));
    // Binary data with a key inside, and text that is not UTF-8.
    let mut bin: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    bin.extend_from_slice(format!(" {AWS_KEY} ").as_bytes());
    bin.extend_from_slice(&[0xff, 0xfe, 0x00]);
    std::fs::write(s.dir.path().join("repo/blob.bin"), &bin).unwrap();
    std::fs::write(
        s.dir.path().join("repo/latin1.txt"),
        [
            b"caf\xe9 \xff ".as_slice(),
            format!("card: {CARD}\n").as_bytes(),
        ]
        .concat(),
    )
    .unwrap();
    let custom = r#"'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"><property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="MSIP_Label_f42aa342-8706-4288-bd11-ebb85995028c_Enabled"><vt:lpwstr>true</vt:lpwstr></property><property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="3" name="MSIP_Label_f42aa342-8706-4288-bd11-ebb85995028c_Name"><vt:lpwstr>Confidential</vt:lpwstr></property></Properties>'"#;
    let docx = s.path("repo/board.docx");
    // The body holds a card number split across two runs, as Word writes them.
    let body = r#"'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Board pack</w:t></w:r></w:p><w:p><w:r><w:t xml:space="preserve">Corporate card 4111 1111 </w:t></w:r><w:r><w:t>1111 1111 &amp; more</w:t></w:r></w:p></w:body></w:document>'"#;
    python_zip(
        &docx,
        &[
            ("word/document.xml", body),
            ("word/styles.xml", "'<w:styles/>'"),
            ("docProps/custom.xml", custom),
        ],
        true,
    );
    // A truncated copy, and a zip bomb posing as a workbook.
    let bytes = std::fs::read(&docx).unwrap();
    std::fs::write(
        s.dir.path().join("repo/truncated.docx"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    python_zip(
        &s.path("repo/bomb.xlsx"),
        &[("docProps/custom.xml", "'A' * (64 << 20)")],
        true,
    );
}

#[test]
fn scan_finds_secrets_pii_and_labels_and_never_prints_values() {
    let s = Sandbox::new();
    scan_tree(&s);
    let out = s.run(&["dlp", "scan", "repo"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("repo/config.env:2:19: aws-access-key-id [secret]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("repo/notes.md:1:25: payment-card-number [pii:card]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("repo/blob.bin:"),
        "binary files are scanned as bytes: {stdout}"
    );
    assert!(stdout.contains("repo/latin1.txt:1:"), "{stdout}");
    assert!(
        stdout.contains("repo/board.docx: mip-sensitivity-label [label:confidential] Confidential"),
        "{stdout}"
    );
    assert!(
        stdout.contains("repo/board.docx#word/document.xml:2:16: payment-card-number [pii:card]"),
        "text inside Office documents is scanned: {stdout}\n{stderr}"
    );
    assert!(!stdout.contains(".git/"), ".git is skipped: {stdout}");
    assert!(
        !stdout.contains(AWS_KEY) && !stdout.contains(CARD),
        "values leaked: {stdout}"
    );
    assert!(
        stderr.contains("truncated.docx") && stderr.contains("not a readable Office document"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bomb.xlsx") && stderr.contains("inflates to more than"),
        "{stderr}"
    );

    // JSON: every finding with its place; still no values.
    let v = json(&s.expect(1, &["dlp", "scan", "repo", "--format", "json"]));
    let findings = v["findings"].as_array().unwrap();
    let aws = findings
        .iter()
        .find(|f| f["path"] == "repo/config.env")
        .unwrap();
    assert_eq!(aws["rule"], "aws-access-key-id");
    assert_eq!(
        (aws["line"].as_u64(), aws["column"].as_u64()),
        (Some(2), Some(19))
    );
    assert_eq!(aws["byteLength"], 20);
    assert_eq!(aws["action"], "block");
    assert_eq!(
        v["labels"][0]["label"]["id"],
        "f42aa342-8706-4288-bd11-ebb85995028c"
    );
    assert!(!v.to_string().contains(AWS_KEY));
    assert_eq!(v["summary"]["files"], 8);

    // --exit-zero reports without failing; a clean file exits 0.
    s.expect(0, &["dlp", "scan", "repo", "--exit-zero"]);
    s.expect(0, &["dlp", "scan", "repo/clean.rs"]);
    // stdin.
    let out = with_stdin(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("cordon"))
            .args(["dlp", "scan", "-", "--format", "json"]),
        b"curl -H 'Authorization: Bearer 8fK2mQ7xL4pWz9Rt3vYb6nHc' https://api\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["findings"][0]["rule"], "http-bearer-token");
    assert_eq!(v["findings"][0]["path"], "-");
    // A path that does not exist: exit 2, named.
    let err = s.stderr_of(2, &["dlp", "scan", "nowhere"]);
    assert!(err.contains("nowhere"), "{err}");
}

#[test]
fn sarif_output_follows_the_2_1_0_format() {
    let s = Sandbox::new();
    scan_tree(&s);
    let v = json(&s.expect(1, &["dlp", "scan", "repo", "--format", "sarif"]));
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &v["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "cordon-dlp");
    let rules = driver["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert!(results.len() >= 5, "{results:?}");
    for r in results {
        // Each result names a rule that the driver lists, at the index given.
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], r["ruleId"]);
        assert!(["error", "warning", "note", "none"].contains(&r["level"].as_str().unwrap()));
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        let loc = &r["locations"][0]["physicalLocation"];
        let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
        assert!(uri.starts_with("repo/") && !uri.contains(' '), "{uri}");
        if let Some(region) = loc.get("region") {
            assert!(region["startLine"].as_u64().unwrap() >= 1);
            assert!(region["startColumn"].as_u64().unwrap() >= 1);
            assert!(region["byteLength"].as_u64().unwrap() >= 1);
        }
    }
    for rule in rules {
        assert!(rule["shortDescription"]["text"].is_string(), "{rule}");
    }
    assert_eq!(run["columnKind"], "unicodeCodePoints");
    assert!(!v.to_string().contains(AWS_KEY));
}

#[test]
fn actions_come_from_the_manifest_dlp_section() {
    let s = Sandbox::new();
    s.write("m.json", r#"{"agentName":"a","version":"1.0.0","dlp":{"block":["pii:card"],"redact":["secret"],"alert":["pii"]}}"#);
    s.write(
        "f.txt",
        &format!("{AWS_KEY}\ncard {CARD}\nmail jane.doe@acme-corp.com\n"),
    );
    let v = json(&s.expect(
        1,
        &[
            "dlp",
            "scan",
            "f.txt",
            "--unsigned",
            "m.json",
            "--format",
            "json",
        ],
    ));
    let action = |rule: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == rule)
            .unwrap()["action"]
            .clone()
    };
    assert_eq!(action("aws-access-key-id"), "redact");
    assert_eq!(action("payment-card-number"), "block");
    assert_eq!(action("email-address"), "alert");
}

#[test]
fn organisations_add_their_own_markings() {
    let s = Sandbox::new();
    s.write(
        "memo.txt",
        "Distribution: ACME RESTRICTED\nacme restricted is not a banner\n",
    );
    let v = json(&s.expect(
        1,
        &[
            "dlp",
            "scan",
            "memo.txt",
            "--marking",
            "ACME RESTRICTED",
            "--format",
            "json",
        ],
    ));
    let f = &v["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1, "{v}");
    assert_eq!(f[0]["rule"], "marking-acme-restricted");
    assert_eq!(f[0]["classification"], "label:acme-restricted");
    assert_eq!(
        (f[0]["line"].as_u64(), f[0]["column"].as_u64()),
        (Some(1), Some(15))
    );
    let err = s.stderr_of(2, &["dlp", "scan", "memo.txt", "--marking", " x"]);
    assert!(err.contains("--marking"), "{err}");
}

#[test]
fn redact_replaces_values_with_stable_placeholders() {
    let s = Sandbox::new();
    s.write("f.txt", &format!("a {CARD} b {AWS_KEY} c {CARD}\n"));
    let out = s.expect(0, &["dlp", "redact", "f.txt"]);
    assert_eq!(
        out,
        "a [REDACTED:payment-card-number:1] b [REDACTED:aws-access-key-id:1] c [REDACTED:payment-card-number:1]\n"
    );
}

#[test]
fn files_larger_than_memory_allows_are_streamed() {
    // 320 MiB (sparse), scanned under a 256 MiB address-space limit: only streaming fits.
    // The key sits across the boundary of two 1 MiB read chunks.
    let s = Sandbox::new();
    let path = s.dir.path().join("big.log");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(320 << 20).unwrap();
    let at = (300u64 << 20) - 7;
    std::os::unix::fs::FileExt::write_at(&f, format!("\nkey_id={AWS_KEY}\n").as_bytes(), at)
        .unwrap();
    drop(f);
    let out = std::process::Command::new("prlimit")
        .arg(format!("--as={}", 256u64 << 20))
        .arg(assert_cmd::cargo::cargo_bin("cordon"))
        .args(["dlp", "scan", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let v = json(&String::from_utf8_lossy(&out.stdout));
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "aws-access-key-id");
    assert_eq!(f["byteOffset"].as_u64().unwrap(), at + 8);
    assert_eq!(f["line"], 2);
}

/// A `cordon:allow` mark suppresses a reviewed finding on its line (all rules, or the rules it
/// names), the report still lists it without its value, SARIF marks it `inSource`, and an
/// audit with `--no-allow-comments` reports it like any other.
#[test]
fn allow_marks_suppress_reviewed_findings_and_audits_see_them() {
    let s = Sandbox::new();
    s.write(
        "config.py",
        &format!(
            "aws = \"{AWS_KEY}\"  # cordon:allow\n\
             key = \"{AWS_KEY}\"  # cordon:allow=aws-access-key-id,other-rule\n\
             id = \"{AWS_KEY}\"  # cordon:allow=generic-credential-assignment\n\
             again = \"{AWS_KEY}\"  # cordon:allowed is not a mark\n"
        ),
    );
    let v = json(&s.expect(1, &["dlp", "scan", "config.py", "--format", "json"]));
    let lines = |key: &str| -> Vec<u64> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["line"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(lines("findings"), [3, 4], "{v}");
    assert_eq!(lines("suppressed"), [1, 2], "{v}");
    assert_eq!(v["summary"]["suppressed"], 2);
    assert_eq!(v["suppressed"][0]["rule"], "aws-access-key-id");
    assert!(!v.to_string().contains(AWS_KEY));

    // Marked lines alone do not fail the gate.
    s.write("ok.py", &format!("aws = \"{AWS_KEY}\"  # cordon:allow\n"));
    let out = s.expect(0, &["dlp", "scan", "ok.py"]);
    assert!(out.contains("1 suppressed by cordon:allow"), "{out}");

    let sarif = json(&s.expect(
        1,
        &["dlp", "scan", "ok.py", "config.py", "--format", "sarif"],
    ));
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let suppressed: Vec<_> = results
        .iter()
        .filter(|r| r["suppressions"][0]["kind"] == "inSource")
        .collect();
    assert_eq!(suppressed.len(), 3, "{results:?}");
    assert_eq!(results.len(), 5);

    let audit = json(&s.expect(
        1,
        &[
            "dlp",
            "scan",
            "config.py",
            "--format",
            "json",
            "--no-allow-comments",
        ],
    ));
    assert_eq!(audit["summary"]["findings"], 4);
    assert_eq!(audit["summary"]["suppressed"], 0);
}

/// A report of a million findings is written as they are found: the scan fits in an address
/// space far smaller than the findings would take if they were all held until the end.
#[test]
fn reports_are_written_as_findings_are_made() {
    use std::io::BufRead as _;
    let s = Sandbox::new();
    let lines = 1_000_000;
    let mut child = scan_cards(&s, lines, Some(256 << 20));
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (mut count, mut last) = (0usize, String::new());
    for line in stdout.lines() {
        count += 1;
        last = line.unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(count, lines + 1, "{last}");
    assert!(
        last.starts_with(&format!("{lines} findings and 0 labels in 1 files")),
        "{last}"
    );
}

/// A reader that stops early (`cordon dlp scan … | head -1`) is not an error: no message, and
/// the exit status still says something was found.
#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    use std::io::BufRead as _;
    let s = Sandbox::new();
    let mut child = scan_cards(&s, 100_000, None);
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("payment-card-number"), "{first}");
    // The reader is dropped here: cordon's next writes fail with a broken pipe.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// `cordon dlp scan` (human report) of a file of `lines` card numbers, optionally under an
/// address-space limit, with its output piped.
fn scan_cards(s: &Sandbox, lines: usize, address_space: Option<u64>) -> std::process::Child {
    let path = s.dir.path().join("cards.txt");
    std::fs::write(&path, format!("card {CARD}\n").repeat(lines)).unwrap();
    let cordon = assert_cmd::cargo::cargo_bin("cordon");
    let mut command = match address_space {
        Some(limit) => {
            let mut c = std::process::Command::new("prlimit");
            c.arg(format!("--as={limit}")).arg(cordon);
            c
        }
        None => std::process::Command::new(cordon),
    };
    command
        .args(["dlp", "scan"])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}
