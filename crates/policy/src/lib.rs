//! cordon's policy core: capability manifests, their signatures and trust, and the policy
//! decision point (PDP) that every enforcement point asks.
//!
//! # What this crate does not do
//!
//! No I/O of any kind. It does not read files, the environment, the network or the clock:
//! callers pass bytes in, and the time a decision is made at arrives in the request. That keeps
//! every decision deterministic and cheap to test. Key generation takes its random seed from the
//! caller for the same reason.
//!
//! # Example
//!
//! ```
//! use cordon_policy::{manifest, pdp::{Pdp, Request}};
//!
//! let m = manifest::parse(br#"{"agentName":"demo","version":"1.0.0",
//!     "readPaths":["/home/user/Work/Reports"]}"#, "demo.json").unwrap();
//! let pdp = Pdp::compile(&m, &Default::default()).unwrap();
//! let req = Request::from_json(br#"{"action":"read","path":"/home/user/Work/Reports/q3.xlsx"}"#).unwrap();
//! assert!(pdp.decide(&req).is_allow());
//! let req = Request::from_json(br#"{"action":"read","path":"/home/user/.ssh/id_rsa"}"#).unwrap();
//! assert!(!pdp.decide(&req).is_allow());
//! ```

pub mod crypto;
pub mod diagnostic;
pub mod dsse;
pub mod json_span;
pub mod lint;
pub mod manifest;
pub mod path;
pub mod pdp;
pub mod revocation;
pub mod scope;
pub mod template;
pub mod trust;
pub mod verify;
pub mod wildcard;
