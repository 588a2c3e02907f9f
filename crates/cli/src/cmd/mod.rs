//! One module per command group.

pub mod audit;
pub mod ca;
pub mod claude_code;
pub mod detect;
pub mod dlp;
pub mod dlp_report;
pub mod hook;
pub mod keys;
pub mod manifest;
pub mod policy;
pub mod proxy;
pub mod quickstart;
pub mod run;
pub mod sandbox;
pub mod trust;
