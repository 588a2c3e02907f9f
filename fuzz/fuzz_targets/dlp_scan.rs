//! The DLP scanner on arbitrary bytes: never panics, every finding lies inside the input, and
//! scanning the same bytes as a stream of chunks (split where the input says) finds the same
//! findings as scanning them whole. Redaction never panics either.
#![no_main]

use std::sync::LazyLock;

use cordon_dlp::redact::Redactor;
use cordon_dlp::scan::Scanner;
use cordon_dlp::stream::Stream;
use libfuzzer_sys::fuzz_target;

static SCANNER: LazyLock<Scanner> =
    LazyLock::new(|| Scanner::builtin().expect("the built-in rules compile"));

fuzz_target!(|data: &[u8]| {
    // First byte: chunk size for the stream.
    let Some((&split, data)) = data.split_first() else { return };
    let whole = SCANNER.scan(data);
    for f in &whole {
        assert!(f.start < f.end && f.end <= data.len(), "{f:?} outside {} bytes", data.len());
    }
    let chunk = usize::from(split).max(1);
    let mut stream = Stream::new(&SCANNER);
    let mut streamed = Vec::new();
    for piece in data.chunks(chunk) {
        streamed.extend(stream.push(piece));
    }
    streamed.extend(stream.finish());
    streamed.sort();
    let mut expected = whole.clone();
    expected.sort();
    assert_eq!(streamed, expected, "stream (chunks of {chunk}) and whole scan differ");
    let _ = Redactor::new().redact(&SCANNER, data, &whole);
});
