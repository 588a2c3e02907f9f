//! cordon's audit log core (SPEC A-2): every event becomes a record in a hash chain, so that an
//! edited, deleted, inserted or reordered record is found and named.
//!
//! A record is one line of canonical JSON ([`canonical`]): `{"event":…,"hash":…,"prev":…,
//! "seq":…,"time":…}`. `hash` is the SHA-256 of the record's canonical JSON without `hash`;
//! `prev` is the previous record's `hash` (64 zeros for the first); `seq` counts from 0.
//! [`chain::Chain`] seals events into records; [`verify::verify`] walks lines and reports the
//! first record that does not follow.
//!
//! A hash chain alone shows tampering only by someone who did not rewrite everything after it;
//! signed [`checkpoint`]s anchor the chain against that, and against truncation.
//!
//! [`store`] keeps the chain in segment files with group commit; it is the only module that does
//! I/O. What this crate does not do: read the clock, hold keys or know the trust store. Callers
//! hand it events and times, a signer, and a check of signatures.
//!
//! ```
//! use cordon_audit::chain::Chain;
//! use cordon_audit::verify::verify;
//!
//! let mut chain = Chain::new();
//! let lines: Vec<String> = (0..3)
//!     .map(|i| chain.seal("2026-11-26T00:00:00Z", serde_json::json!({"n": i})).line)
//!     .collect();
//! assert_eq!(verify(lines.iter().map(String::as_str)).records, 3);
//! assert!(verify(lines.iter().map(String::as_str)).problem.is_none());
//! ```

#![forbid(unsafe_code)]

pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod ecs;
pub mod ocsf;
pub mod query;
pub mod stats;
pub mod store;
pub mod verify;
pub mod wire;
pub mod writer;
