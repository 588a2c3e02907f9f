//! The Office sensitivity-label reader on arbitrary bytes (damaged archives, bombs, odd XML):
//! it returns labels or an error, never panics, never reads without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cordon_dlp::office::sensitivity_labels(std::io::Cursor::new(data));
});
