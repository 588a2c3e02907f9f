//! Envelope bytes → parse → verify against a fixed trust store: never a panic, and nothing
//! but the one real signature ever verifies.
#![no_main]

use std::sync::OnceLock;

use cordon_policy::crypto::signing_key_from_seed;
use cordon_policy::dsse::{Envelope, MANIFEST_PAYLOAD_TYPE};
use cordon_policy::trust::{Role, TrustStore, TrustStoreFile};
use cordon_policy::verify::verify_manifest;
use libfuzzer_sys::fuzz_target;
use time::macros::datetime;

fn store() -> &'static TrustStore {
    static STORE: OnceLock<TrustStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let key = signing_key_from_seed(&[42; 32]);
        let mut f = TrustStoreFile::new();
        f.add_key(&key.verifying_key(), None, vec![Role::ManifestSigner]);
        TrustStore::parse(f.to_json().as_bytes(), "fuzz-trust.json").expect("fixed store parses")
    })
}

fuzz_target!(|data: &[u8]| {
    let now = datetime!(2026-11-25 12:00 UTC);
    if let Ok(env) = Envelope::parse(data, "fuzz.json") {
        let _ = store().verify(&env, MANIFEST_PAYLOAD_TYPE, Role::ManifestSigner, now);
    }
    let _ = verify_manifest(data, "fuzz.json", store(), None, now);
});
