//! Shell-style wildcards without classes: `*` matches any run of bytes (including none), `?`
//! exactly one byte, every other byte itself. Used for command argument patterns, and by the
//! sandbox for `include` lines of `ld.so.conf`.

/// Whether `text` matches `pattern`. Linear in the lengths for the usual patterns (greedy with
/// one backtracking point), never recursive.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards() {
        assert!(matches(b"*", b""));
        assert!(matches(b"--out=*", b"--out=x.png"));
        assert!(matches(b"a?c", b"abc"));
        assert!(!matches(b"a?c", b"ac"));
        assert!(matches(b"*.png", b"x.y.png"));
        assert!(!matches(b"*.png", b"x.png.sh"));
        assert!(matches(b"*.conf", b"libc.conf"));
        assert!(!matches(b"*.conf", b"libc.conf.bak"));
        assert!(matches(b"a*b*c", b"a-b-c"));
        assert!(!matches(b"a*b*c", b"acb"));
    }
}
