//! Find where a JSON pointer's value sits in the source text, so that problems found after
//! deserialisation can still point at a line and column.
//!
//! This is not a parser: it is only called on text that `serde_json` has already accepted, it
//! never recurses (nesting is skipped by counting brackets) and it gives up with `None` on
//! anything unexpected.

/// Byte offset and length of the value at `pointer` (RFC 6901) in `src`, or of the whole
/// document for the empty pointer.
pub fn locate(src: &str, pointer: &str) -> Option<(usize, usize)> {
    let b = src.as_bytes();
    let mut at = skip_ws(b, 0);
    if !pointer.is_empty() {
        for token in pointer.strip_prefix('/')?.split('/') {
            let token = token.replace("~1", "/").replace("~0", "~");
            at = match b.get(at)? {
                b'{' => member(src, at, &token)?,
                b'[' => element(b, at, token.parse().ok()?)?,
                _ => return None,
            };
        }
    }
    let end = value_end(b, at)?;
    Some((at, end - at))
}

/// The key span of member `key` of the object at `at`, for problems about the key itself.
pub fn locate_key(src: &str, pointer: &str) -> Option<(usize, usize)> {
    let (parent, key) = pointer.rsplit_once('/')?;
    let key = key.replace("~1", "/").replace("~0", "~");
    let (obj, _) = locate(src, parent)?;
    let b = src.as_bytes();
    let mut at = skip_ws(b, obj + 1);
    while b.get(at)? == &b'"' {
        let key_end = string_end(b, at)?;
        let name: String = serde_json::from_str(src.get(at..key_end)?).ok()?;
        if name == key {
            return Some((at, key_end - at));
        }
        at = skip_ws(b, key_end);
        at = skip_ws(b, at + 1);
        at = skip_ws(b, value_end(b, at)?);
        if b.get(at)? == &b',' {
            at = skip_ws(b, at + 1);
        }
    }
    None
}

fn member(src: &str, obj: usize, key: &str) -> Option<usize> {
    let b = src.as_bytes();
    let mut at = skip_ws(b, obj + 1);
    while b.get(at)? == &b'"' {
        let key_end = string_end(b, at)?;
        let name: String = serde_json::from_str(src.get(at..key_end)?).ok()?;
        at = skip_ws(b, key_end);
        if b.get(at)? != &b':' {
            return None;
        }
        at = skip_ws(b, at + 1);
        if name == key {
            return Some(at);
        }
        at = skip_ws(b, value_end(b, at)?);
        if b.get(at)? == &b',' {
            at = skip_ws(b, at + 1);
        }
    }
    None
}

fn element(b: &[u8], arr: usize, index: usize) -> Option<usize> {
    let mut at = skip_ws(b, arr + 1);
    if b.get(at)? == &b']' {
        return None;
    }
    for _ in 0..index {
        at = skip_ws(b, value_end(b, at)?);
        if b.get(at)? != &b',' {
            return None;
        }
        at = skip_ws(b, at + 1);
    }
    Some(at)
}

fn skip_ws(b: &[u8], mut at: usize) -> usize {
    while matches!(b.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// The offset just past the string starting at `at` (which holds `"`).
fn string_end(b: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        match b.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The offset just past the value starting at `at`.
fn value_end(b: &[u8], at: usize) -> Option<usize> {
    match b.get(at)? {
        b'"' => string_end(b, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            loop {
                match b.get(i)? {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let mut i = at;
            while let Some(c) = b.get(i) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                i += 1;
            }
            (i > at).then_some(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{ "a": [1, "x\"]", {"b/c": true}], "d": {"e": null} }"#;

    fn text(pointer: &str) -> Option<&'static str> {
        let (at, len) = locate(DOC, pointer)?;
        DOC.get(at..at + len)
    }

    #[test]
    fn finds_values() {
        assert_eq!(text("/a/0"), Some("1"));
        assert_eq!(text("/a/1"), Some(r#""x\"]""#));
        assert_eq!(text("/a/2/b~1c"), Some("true"));
        assert_eq!(text("/d/e"), Some("null"));
        assert_eq!(text("/d"), Some(r#"{"e": null}"#));
        assert_eq!(text("/a/3"), None);
        assert_eq!(text("/zz"), None);
        assert_eq!(text(""), Some(DOC));
        let (at, len) = locate_key(DOC, "/d/e").unwrap();
        assert_eq!(&DOC[at..at + len], "\"e\"");
    }

    #[test]
    fn never_panics_on_garbage() {
        for src in ["", "{", "[", "\"", "{\"a\"", "{\"a\":", "[1,", "{\"a\":[}"] {
            let _ = locate(src, "/a/0");
            let _ = locate_key(src, "/a");
        }
    }
}
