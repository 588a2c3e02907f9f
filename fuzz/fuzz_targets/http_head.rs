//! Raw bytes → request head → target and forwarded headers, as the proxy reads them: never a
//! panic; a head that parses names an http URL or a CONNECT tunnel and keeps no hop-by-hop
//! header.
#![no_main]

use cordon_proxy::head::{self, Target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = head::parse(data) {
        match &h.target {
            Target::Tunnel { url } => assert_eq!(url.scheme(), "https"),
            Target::Forward { url } => assert_eq!(url.scheme(), "http"),
        }
        for name in ["connection", "proxy-authorization", "transfer-encoding", "upgrade"] {
            assert!(!h.headers.contains_key(name), "{name} kept");
        }
    }
});
