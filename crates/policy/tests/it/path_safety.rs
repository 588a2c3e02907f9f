//! Property tests: no spelling of a path turns a path outside a grant into an allow.
//!
//! The reference model below resolves paths component by component on its own (a stack of
//! components, compared as lists), independently of `cordon_policy::path`. For any generated
//! spelling — `..`, `//`, `/./`, trailing `/`, prefixes that stop inside a component, Unicode
//! look-alikes and invisible characters — the PDP allows exactly when the model says the path
//! lies inside a grant and outside every deny.

use cordon_policy::manifest;
use cordon_policy::pdp::{CompileOptions, Effect, Pdp, Request};
use proptest::prelude::*;

const GRANT: &[&str] = &["home", "user", "Work", "Reports"];
const DENY: &[&str] = &["home", "user", "Work", "Reports", "private"];

fn pdp(action: &str) -> Pdp {
    let json = format!(
        r#"{{"agentName":"p","version":"1.0.0","{action}":["/home/user/Work/Reports"],"denyPaths":["/home/user/Work/Reports/private"]}}"#
    );
    let m = manifest::parse(json.as_bytes(), "p.json").unwrap();
    Pdp::compile(&m, &CompileOptions::default()).unwrap()
}

/// The model: resolve `..` and `.` over a component stack, then compare component lists.
fn model_allows(path: &str) -> bool {
    let mut stack: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            other => stack.push(other),
        }
    }
    stack.starts_with(GRANT) && !stack.starts_with(DENY)
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("home".to_owned()),
        Just("user".to_owned()),
        Just("Work".to_owned()),
        Just("Reports".to_owned()),
        Just("private".to_owned()),
        Just("ReportsX".to_owned()),
        Just("Report".to_owned()),
        Just(".ssh".to_owned()),
        Just("id_rsa".to_owned()),
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just(String::new()),
        Just("...".to_owned()),
        Just("Rep\u{1D3C}rts".to_owned()), // modifier letter capital O
        Just("Rep\u{043E}rts".to_owned()), // Cyrillic o
        Just("Reports\u{200B}".to_owned()), // zero-width space
        Just("\u{FF32}eports".to_owned()), // fullwidth R
        Just("reports".to_owned()),
        Just("Reports ".to_owned()),
        "[a-z]{1,3}".prop_map(|s| s),
    ]
}

fn spelling() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(segment(), 0..10),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(segs, double, trailing)| {
            let sep = if double { "//" } else { "/" };
            let mut p = format!("/{}", segs.join(sep));
            if trailing {
                p.push('/');
            }
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn reads_match_the_model(path in spelling()) {
        let d = pdp("readPaths").decide(&Request::read(&path).unwrap());
        prop_assert_eq!(d.effect == Effect::Allow, model_allows(&path), "path {:?} -> {:?}", path, d);
    }

    #[test]
    fn writes_match_the_model(path in spelling()) {
        let d = pdp("writePaths").decide(&Request::write(&path).unwrap());
        prop_assert_eq!(d.effect == Effect::Allow, model_allows(&path), "path {:?} -> {:?}", path, d);
    }

    /// Any way of walking out of the grant from inside it is denied.
    #[test]
    fn climbing_out_is_denied(depth in 1usize..6, tail in prop::collection::vec(segment(), 0..4)) {
        let ups = vec![".."; depth].join("/");
        let path = format!("/home/user/Work/Reports/{ups}/{}", tail.join("/"));
        let d = pdp("readPaths").decide(&Request::read(&path).unwrap());
        prop_assert_eq!(d.effect == Effect::Allow, model_allows(&path), "path {:?}", path);
    }
}

#[test]
fn named_escapes_are_denied() {
    let pdp = pdp("readPaths");
    for path in [
        "/home/user/Work/ReportsX/a",
        "/home/user/Work/Report",
        "/home/user/Work/Reports/../../.ssh/id_rsa",
        "/home/user/Work/Reports/private/x",
        "/home/user/Work/Reports//private/x",
        "/home/user/Work/Reports/./private/",
        "/home/user/Work/Rep\u{043E}rts/q3.xlsx",
        "/home/user/Work/Reports\u{200B}/q3.xlsx",
        "/home/user/work/reports/q3.xlsx",
    ] {
        assert_ne!(
            pdp.decide(&Request::read(path).unwrap()).effect,
            Effect::Allow,
            "{path}"
        );
    }
    for path in [
        "/home/user/Work/Reports",
        "/home/user/Work/Reports/",
        "//home//user/Work/Reports/./q3.xlsx",
    ] {
        assert_eq!(
            pdp.decide(&Request::read(path).unwrap()).effect,
            Effect::Allow,
            "{path}"
        );
    }
    assert!(Request::read("home/user/Work/Reports").is_err());
    assert!(Request::read("/home/user/Work/Reports/\0").is_err());
}
