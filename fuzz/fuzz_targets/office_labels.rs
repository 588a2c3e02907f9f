//! The Office reader on arbitrary bytes (damaged archives, bombs, odd XML): labels and the
//! text of content parts, or an error; never a panic, never a read without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut doc) = cordon_dlp::office::OfficeDocument::open(std::io::Cursor::new(data)) {
        let _ = doc.sensitivity_labels();
        let _ = doc.text();
    }
});
