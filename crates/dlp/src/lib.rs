//! cordon's content classifier: finds credentials, personal data and classification markings
//! in bytes, at memory speed, for the egress proxy, the MCP gateway, the hooks and
//! `cordon dlp scan`.
//!
//! Detectors are data ([`rule`]): each rule has keywords for a literal prefilter (or a digit-run
//! trigger), a bounded pattern, an entropy floor and a validator (Luhn, IBAN mod-97, US SSN
//! rules, GitHub's checksum, JWT structure, the generic-credential filter), and examples that
//! must and must not match. The [`scan::Scanner`] runs them in one pass and reports byte
//! offsets; [`stream::Stream`] does the same over chunks; [`redact::Redactor`] replaces what was
//! found with stable placeholders; [`action::Actions`] maps classifications to block, redact or
//! alert; [`office`] reads Microsoft Purview sensitivity labels from Office documents.
//!
//! What this crate does not do: read files, walk directories or touch the network (callers
//! hand it bytes or a reader), or keep found values (only hashes, for placeholders).
//!
//! ```
//! let scanner = cordon_dlp::scan::Scanner::builtin().expect("built-in rules compile");
//! let text = b"card 4111 1111 1111 1111 expires soon";
//! let found = scanner.scan(text);
//! assert_eq!(scanner.rule(&found[0]).map(|r| r.classification()), Some("pii:card"));
//! ```

#![forbid(unsafe_code)]

pub mod action;
pub mod check;
mod digits;
mod keywords;
mod lead;
mod masks;
pub mod office;
mod opening;
pub mod precheck;
pub mod redact;
pub mod rule;
pub mod scan;
pub mod stream;
pub mod validate;
