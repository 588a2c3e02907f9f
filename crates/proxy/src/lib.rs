//! cordon's egress proxy (SPEC E-2): nothing leaves an agent except through here, to destinations
//! its signed manifest grants.
//!
//! A request goes through fixed stages, each able to refuse: the head is read ([`head`]), the
//! policy decision point decides on the method and URL ([`gate`]), the destination is resolved
//! and every address checked ([`resolve`], [`addr`]), and then a plain HTTP request is forwarded
//! or a CONNECT tunnel opened — after the tunnel's TLS ClientHello has shown it goes to the host
//! that was granted ([`hello`]). Every request and tunnel becomes an audit [`event`], written
//! into the audit log from a template of its layout ([`layout`]).
//!
//! Where the manifest asks for it, the proxy sees inside TLS ([`inspect`], with leaf certificates
//! minted by an enterprise CA, [`ca`]), applies DLP to request bodies ([`body`]) and adds the
//! credentials of `apis` entries itself ([`credential`], from the environment, a file or Vault,
//! [`vault`]), so that the agent never holds them.

#![forbid(unsafe_code)]

pub mod addr;
pub mod body;
pub mod ca;
pub mod credential;
pub mod event;
pub mod gate;
pub mod head;
pub mod hello;
pub mod inspect;
pub mod layout;
mod pool;
pub mod resolve;
pub mod server;
pub mod vault;
