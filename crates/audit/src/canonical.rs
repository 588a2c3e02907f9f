//! Canonical JSON: the one byte sequence a value is hashed as.
//!
//! Object keys sorted by their UTF-8 bytes (the same order as RFC 8785 for the ASCII keys events
//! use), no whitespace, strings escaped as `serde_json` escapes them, numbers as `serde_json`
//! writes them. The order does not depend on how a `serde_json::Map` keeps its keys, so a
//! dependency turning on `preserve_order` cannot change a hash.

use std::sync::LazyLock;

use serde_json::Value;

/// `value` as canonical JSON.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write(value, &mut out);
    out
}

/// An event already in canonical form: made from a JSON value, or written canonically by
/// [`ocsf::Event::finish_canonical`](crate::ocsf::Event::finish_canonical) without building one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical(Vec<u8>);

impl Canonical {
    /// `value` in canonical form.
    pub fn of(value: &Value) -> Self {
        Self(to_vec(value))
    }

    /// Bytes this crate wrote canonically.
    pub(crate) fn written(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The canonical JSON.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A JSON object written in canonical form a member at a time, without a JSON value in between
/// (the proxy writes one per request). Members may come in any order, and a later member replaces
/// an earlier one of the same name.
///
/// Each member is written where it will stay, so an object whose members come in canonical order
/// (names strictly ascending, as callers that can arrange it do) is finished without copying,
/// and nested objects ([`object`](Self::object)) share the one buffer. Should a name come out of
/// order, repeat one, or need escaping, the object is put in canonical form when it is finished
/// (read back and written again, at every depth): the result is the same bytes either way.
#[derive(Debug)]
pub struct Object {
    buf: Vec<u8>,
    /// Where the object's opening brace is in `buf` (after what `buf` held before it).
    start: usize,
    /// Where the last member's name is in `buf` (between its quotes), if the object has one.
    last: Option<std::ops::Range<usize>>,
    /// Whether every name so far came in canonical order and needed no escape, at every depth.
    ordered: bool,
}

impl Default for Object {
    fn default() -> Self {
        Self::new()
    }
}

impl Object {
    /// An empty object (with room for a few short members).
    pub fn new() -> Self {
        Self::with_capacity(128)
    }

    /// An empty object with room for `bytes` of canonical JSON.
    pub fn with_capacity(bytes: usize) -> Self {
        Self::appending(Vec::with_capacity(bytes.max(2)))
    }

    /// An empty object written after what `buf` holds (a batch of records, say), so that it
    /// needs no buffer of its own; [`finish_appended`](Self::finish_appended) gives `buf` back.
    pub fn appending(mut buf: Vec<u8>) -> Self {
        let start = buf.len();
        buf.push(b'{');
        Self {
            buf,
            start,
            last: None,
            ordered: true,
        }
    }

    /// Write `name` (and the `,` before it when it is not the first) and the `:` after it.
    fn name(&mut self, name: &str) -> &mut Vec<u8> {
        let in_order = match &self.last {
            None => true,
            Some(last) => precedes(self.buf.get(last.clone()), name.as_bytes()),
        };
        let first = self.last.is_none();
        if needs_escape(name.as_bytes()) {
            // An escaped name is not its own bytes in `buf`, so later names cannot be compared
            // with it: the object is sorted when finished.
            self.ordered = false;
            if !first {
                self.buf.push(b',');
            }
            let start = self.buf.len() + 1;
            write_str(name, &mut self.buf);
            self.last = Some(start..self.buf.len() - 1);
            self.buf.push(b':');
        } else {
            // `,"name":` in one step: most names are short identifiers.
            self.buf.reserve(name.len() + 4);
            if !first {
                self.buf.push(b',');
            }
            self.buf.push(b'"');
            let start = self.buf.len();
            self.buf.extend_from_slice(name.as_bytes());
            self.last = Some(start..self.buf.len());
            self.buf.extend_from_slice(b"\":");
        }
        self.ordered &= in_order;
        &mut self.buf
    }

    /// A string member.
    pub fn str(&mut self, name: &str, value: &str) -> &mut Self {
        write_str(value, self.name(name));
        self
    }

    /// A number member.
    pub fn u64(&mut self, name: &str, value: u64) -> &mut Self {
        let out = self.name(name);
        write_u64(value, out);
        self
    }

    /// A signed number member.
    pub fn i64(&mut self, name: &str, value: i64) -> &mut Self {
        let out = self.name(name);
        if value < 0 {
            out.push(b'-');
        }
        write_u64(value.unsigned_abs(), out);
        self
    }

    /// A string member made of `parts` one after another.
    pub fn concat(&mut self, name: &str, parts: &[&str]) -> &mut Self {
        let out = self.name(name);
        if parts.iter().any(|p| needs_escape(p.as_bytes())) {
            write_str(&parts.concat(), out);
        } else {
            out.push(b'"');
            for p in parts {
                out.extend_from_slice(p.as_bytes());
            }
            out.push(b'"');
        }
        self
    }

    /// A member already canonical (an object finished earlier).
    pub fn canonical(&mut self, name: &str, value: &Canonical) -> &mut Self {
        self.name(name).extend_from_slice(value.as_bytes());
        self
    }

    /// A member from a JSON value.
    pub fn value(&mut self, name: &str, value: &Value) -> &mut Self {
        write(value, self.name(name));
        self
    }

    /// A member that is an object, its members written by `members`.
    pub fn object(&mut self, name: &str, members: impl FnOnce(&mut Self)) -> &mut Self {
        self.name(name).push(b'{');
        let outer = self.last.take();
        members(self);
        self.buf.push(b'}');
        self.last = outer;
        self
    }

    /// Members written earlier (by [`into_members`](Self::into_members)), in canonical order
    /// and without escapes: `bytes` is `"first":…,…` and the last member's name is at `last`
    /// in it.
    pub(crate) fn members(
        &mut self,
        first: &str,
        bytes: &[u8],
        last: std::ops::Range<usize>,
    ) -> &mut Self {
        let in_order = match &self.last {
            None => true,
            Some(prev) => precedes(self.buf.get(prev.clone()), first.as_bytes()),
        };
        if self.last.is_some() {
            self.buf.push(b',');
        }
        let base = self.buf.len();
        self.buf.extend_from_slice(bytes);
        self.last = Some(base + last.start..base + last.end);
        self.ordered &= in_order;
        self
    }

    /// Bytes written so far, with the opening brace.
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The members as written, without the braces, for [`members`](Self::members); none when
    /// their names did not all come in canonical order free of escapes (the bytes would not be
    /// canonical as they stand).
    pub(crate) fn into_members(self) -> Option<Vec<u8>> {
        self.ordered
            .then(|| self.buf.get(self.start + 1..).unwrap_or_default().to_vec())
    }

    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        self.last.is_none()
    }

    /// The object in canonical form.
    pub fn finish(self) -> Canonical {
        Canonical(self.finish_appended())
    }

    /// The buffer the object was written in, the object in canonical form after what the
    /// buffer held before it.
    pub fn finish_appended(mut self) -> Vec<u8> {
        self.buf.push(b'}');
        if self.ordered {
            return self.buf;
        }
        // Read back, the last member of a name replaces the earlier ones (as `serde_json`
        // reads objects); written again, the members are sorted at every depth. The bytes are
        // JSON this writer made, so they read back; should they not, they are kept as written
        // (a record's hash covers the bytes as stored, so nothing is lost but the order).
        match serde_json::from_slice::<Value>(self.buf.get(self.start..).unwrap_or_default()) {
            Ok(value) => {
                self.buf.truncate(self.start);
                write(&value, &mut self.buf);
                self.buf
            }
            Err(_) => self.buf,
        }
    }
}

/// Whether the name `prev` comes strictly before `name` in canonical order. Most names that
/// follow each other differ in their first byte, decided here without a call to `memcmp`.
pub(crate) fn precedes(prev: Option<&[u8]>, name: &[u8]) -> bool {
    match (prev.and_then(|p| p.first()), name.first()) {
        (Some(a), Some(b)) if a != b => a < b,
        _ => prev < Some(name),
    }
}

/// Append `n` in decimal, as `serde_json` writes it.
pub(crate) fn write_u64(n: u64, out: &mut Vec<u8>) {
    // The formatter serde_json itself uses.
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// What can be sealed into a record: a JSON value, or an event already canonical.
pub trait Sealable {
    /// Append the event's canonical form to `out`.
    fn write_canonical(&self, out: &mut Vec<u8>);
}

impl Sealable for Value {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        write(self, out);
    }
}

impl Sealable for Canonical {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl<T: Sealable + ?Sized> Sealable for &T {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        (**self).write_canonical(out);
    }
}

/// Whether `serde_json::Map` keeps its keys sorted by their bytes (a `BTreeMap`, as it is
/// unless a dependency turns on `preserve_order`): found out once, by experiment. When it does
/// not, every object is sorted as it is written, and the form stays canonical.
static MAP_SORTS: LazyLock<bool> = LazyLock::new(|| {
    let mut m = serde_json::Map::new();
    for k in ["b", "a", "B", "ab"] {
        m.insert(k.to_owned(), Value::Null);
    }
    m.keys().map(String::as_str).eq(["B", "a", "ab", "b"])
});

/// Append `value` as canonical JSON to `out`.
pub fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            let member = |i: usize, k: &String, v: &Value, out: &mut Vec<u8>| {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write(v, out);
            };
            if *MAP_SORTS {
                for (i, (k, v)) in map.iter().enumerate() {
                    member(i, k, v, out);
                }
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    member(i, k, v, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(v, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_str(s, out),
        // Numbers, booleans and null: serde_json's own form (it writes nothing else).
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

/// Append the string `s` as canonical JSON to `out`.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    // Most strings need no escape (no `"`, `\` or control character): copied as they are,
    // which is exactly what serde_json writes for them.
    if !needs_escape(s.as_bytes()) {
        write_plain(s.as_bytes(), out);
        return;
    }
    // Writing a `&str` into a Vec cannot fail; should it, the string is left out and the hash
    // will not match (failing closed).
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Whether `bytes` hold a `"`, a backslash or a control character: eight bytes at a time
/// (most strings are keys and short values, a word or two).
fn needs_escape(bytes: &[u8]) -> bool {
    any_in(bytes, special_in, |b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Whether `bytes` hold anything but ASCII that a JSON string carries as it is: [`needs_escape`]
/// or a byte outside ASCII.
fn needs_care(bytes: &[u8]) -> bool {
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    any_in(
        bytes,
        |w| w & HIGH != 0 || special_in(w),
        |b| !(0x20..0x80).contains(&b) || b == b'"' || b == b'\\',
    )
}

/// Whether a word of `bytes` has `in_word`, eight bytes at a time, or a byte of a text shorter
/// than a word has `in_byte`.
fn any_in(bytes: &[u8], in_word: impl Fn(u64) -> bool, in_byte: impl Fn(u8) -> bool) -> bool {
    let word = |w: &[u8]| {
        let mut x = [0; 8];
        x.copy_from_slice(w);
        in_word(u64::from_le_bytes(x))
    };
    match bytes.len().checked_sub(8) {
        // Shorter than a word: byte by byte.
        None => bytes.iter().any(|&b| in_byte(b)),
        // Whole words, then the last eight bytes (overlapping the last word).
        Some(last) => bytes.chunks_exact(8).any(word) || bytes.get(last..).is_some_and(word),
    }
}

/// Append `bytes` read as UTF-8 as a canonical JSON string, a sequence that is not UTF-8 read
/// as `String::from_utf8_lossy` reads it (U+FFFD). Most header values are plain ASCII: copied
/// after one look at them.
pub(crate) fn write_lossy(bytes: &[u8], out: &mut Vec<u8>) {
    if needs_care(bytes) {
        write_str(&String::from_utf8_lossy(bytes), out);
        return;
    }
    write_plain(bytes, out);
}

/// Append `bytes`, which need no escape, between quotes.
fn write_plain(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    out.extend_from_slice(bytes);
    out.push(b'"');
}

/// Whether one of the eight bytes of `w` is below 0x20, a `"` or a backslash (the classic
/// "has a byte less than n" and "has a zero byte" word tests, exact for whether one exists).
fn special_in(w: u64) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH;
    let zero = |x: u64| below(x, 1);
    (below(w, 0x20) | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')))) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_at_every_depth_and_nothing_else_changes() {
        let v = json!({"b": 1, "a": {"z": [3, {"y": true, "x": null}], "c": "é\n\""}});
        assert_eq!(
            String::from_utf8(to_vec(&v)).unwrap(),
            r#"{"a":{"c":"é\n\"","z":[3,{"x":null,"y":true}]},"b":1}"#
        );
    }

    proptest::proptest! {
        /// An object written a member at a time, in any order and with names repeated, is the
        /// canonical form of the object a JSON value with the same members (the last of each
        /// name) would be.
        #[test]
        fn objects_written_a_member_at_a_time_are_canonical(
            members in proptest::collection::vec((0usize..8, "[a-z\"\\\\]{0,5}", 0u64..1000, proptest::prelude::any::<bool>()), 0..12)
        ) {
            // Two names need escaping: they are compared unescaped, whatever `buf` holds.
            const NAMES: [&str; 8] = ["b", "a", "ab", "B", "a_b", "é", "a\"", "\n"];
            // Written on its own, and after other bytes in a buffer it is given.
            let prefix = format!("{{\"before\":{}}}\n", members.len()).into_bytes();
            let mut object = Object::new();
            let mut appended = Object::appending(prefix.clone());
            let mut map = serde_json::Map::new();
            for (n, text, number, is_text) in &members {
                let name = NAMES[*n];
                if *is_text {
                    object.str(name, text);
                    appended.str(name, text);
                    map.insert(name.to_owned(), json!(text));
                } else {
                    object.u64(name, *number);
                    appended.u64(name, *number);
                    map.insert(name.to_owned(), json!(number));
                }
            }
            let nested = {
                let mut o = Object::new();
                o.str("z", "1").u64("y", 2);
                o.finish()
            };
            object.canonical("n", &nested);
            appended.canonical("n", &nested);
            map.insert("n".into(), json!({"y": 2, "z": "1"}));
            let expected = to_vec(&Value::Object(map));
            let written = object.finish();
            proptest::prop_assert_eq!(written.as_bytes(), &expected[..]);
            let appended = appended.finish_appended();
            proptest::prop_assert_eq!(appended.get(..prefix.len()), Some(&prefix[..]));
            proptest::prop_assert_eq!(appended.get(prefix.len()..), Some(&expected[..]));
        }

        /// Objects nested in one buffer are the canonical form of the same value, whether their
        /// members come in order (written as they are) or not (sorted when finished).
        #[test]
        fn nested_objects_are_canonical(
            outer in proptest::collection::vec((0usize..5, 0u64..100), 0..6),
            inner in proptest::collection::vec((0usize..5, "[a-z\"]{0,4}"), 0..6),
            sort in proptest::prelude::any::<bool>(),
        ) {
            const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];
            fn arrange<T>(mut v: Vec<(usize, T)>, sort: bool) -> Vec<(usize, T)> {
                if sort {
                    v.sort_by_key(|m| m.0);
                    v.dedup_by_key(|m| m.0);
                }
                v
            }
            let (outer, inner) = (arrange(outer, sort), arrange(inner, sort));
            let mut object = Object::new();
            let mut map = serde_json::Map::new();
            let mut nested = serde_json::Map::new();
            for (i, (n, number)) in outer.iter().enumerate() {
                object.u64(NAMES[*n], *number);
                map.insert(NAMES[*n].to_owned(), json!(number));
                if i == outer.len() / 2 {
                    object.object("c", |o| {
                        for (m, text) in &inner {
                            o.str(NAMES[*m], text);
                            nested.insert(NAMES[*m].to_owned(), json!(text));
                        }
                    });
                    map.insert("c".into(), Value::Object(std::mem::take(&mut nested)));
                }
            }
            let written = object.finish();
            proptest::prop_assert_eq!(written.as_bytes(), &to_vec(&Value::Object(map))[..]);
        }

        /// Numbers are written as `serde_json` writes them.
        #[test]
        fn numbers_are_written_as_serde_json_writes_them(n in proptest::prelude::any::<u64>()) {
            let mut out = Vec::new();
            write_u64(n, &mut out);
            proptest::prop_assert_eq!(out, serde_json::to_vec(&n).unwrap());
        }

        /// The word-at-a-time test finds exactly the bytes that need escaping.
        #[test]
        fn escapes_are_found_wherever_they_are(
            bytes in proptest::collection::vec(
                // Mostly bytes that need no escape, so that both answers are common.
                proptest::prop_oneof![30 => 0x23u8..=0x5b, 1 => proptest::prelude::any::<u8>()],
                0..40,
            )
        ) {
            let expected = bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
            proptest::prop_assert_eq!(needs_escape(&bytes), expected);
        }

        /// The shortcut on first bytes orders names as comparing them whole does.
        #[test]
        fn names_are_ordered_as_their_bytes(prev in proptest::option::of("[a-c_]{0,4}"), name in "[a-c_]{0,4}") {
            let expected = prev.as_deref().map(str::as_bytes) < Some(name.as_bytes());
            proptest::prop_assert_eq!(precedes(prev.as_deref().map(str::as_bytes), name.as_bytes()), expected);
        }

        /// Bytes are written as `serde_json` writes the text `String::from_utf8_lossy` reads
        /// from them, whether they take the plain path or not.
        #[test]
        fn bytes_are_written_as_their_lossy_text(
            bytes in proptest::collection::vec(
                // Mostly plain ASCII, so that both paths are common.
                proptest::prop_oneof![30 => 0x23u8..=0x5b, 1 => proptest::prelude::any::<u8>()],
                0..40,
            )
        ) {
            let mut out = Vec::new();
            write_lossy(&bytes, &mut out);
            let text = String::from_utf8_lossy(&bytes);
            proptest::prop_assert_eq!(out, serde_json::to_vec(&text).unwrap());
            let expected = bytes.iter().any(|&b| !(0x20..0x80).contains(&b) || b == b'"' || b == b'\\');
            proptest::prop_assert_eq!(needs_care(&bytes), expected);
        }

        /// Canonical JSON is JSON that reads back as the same value, and canonicalising that
        /// again gives the same bytes.
        #[test]
        fn round_trips_and_is_stable(keys in proptest::collection::vec("[a-zé\\\\\"]{0,6}", 0..8), n in 0i64..1000) {
            let mut map = serde_json::Map::new();
            for (i, k) in keys.iter().enumerate() {
                map.insert(k.clone(), json!([i, n, k]));
            }
            let v = Value::Object(map);
            let bytes = to_vec(&v);
            let back: Value = serde_json::from_slice(&bytes).unwrap();
            proptest::prop_assert_eq!(&back, &v);
            proptest::prop_assert_eq!(to_vec(&back), bytes);
        }
    }
}
