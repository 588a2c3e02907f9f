//! Bytes a tunnel's client sends → ClientHello server name: never a panic, and a prefix of a
//! complete hello is never an error (the proxy would refuse a client that is merely slow).
#![no_main]

use cordon_proxy::hello::{self, Parsed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Parsed::Complete(h)) = hello::parse(data) {
        if let Some(name) = &h.server_name {
            assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()));
        }
        // Every shorter prefix of a hello that parsed needed more, or parsed the same way.
        for cut in [data.len() / 2, data.len().saturating_sub(1)] {
            if let Some(prefix) = data.get(..cut) {
                assert!(hello::parse(prefix).is_ok(), "prefix {cut} of a valid hello refused");
            }
        }
    }
});
