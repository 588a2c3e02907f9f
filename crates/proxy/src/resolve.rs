//! From a granted destination to the addresses the proxy may connect to.
//!
//! The name is resolved once, every address is checked, and the connection goes to an address
//! that was checked — never to a name resolved again later, which is what DNS rebinding needs.
//! Names the operator pinned (`--resolve`) skip DNS and the check: the operator wrote them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use url::{Host, Url};

use crate::addr::{self, Class};
use crate::event::Refusal;

/// Resolves destinations and checks their addresses.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    pins: HashMap<String, Vec<IpAddr>>,
    timeout: Duration,
}

/// Why a destination has no address the proxy may use: the refusal and a sentence.
pub type Unusable = (Refusal, String);

impl Resolver {
    /// A resolver with operator pins (lowercase host name → addresses) and a lookup timeout.
    pub fn new(pins: HashMap<String, Vec<IpAddr>>, timeout: Duration) -> Self {
        Self { pins, timeout }
    }

    /// The addresses to try for `url`. `names_address` says the deciding grant names the URL's
    /// IP literal, which lets it be any kind of address.
    pub async fn addresses(
        &self,
        url: &Url,
        names_address: bool,
    ) -> Result<Vec<SocketAddr>, Unusable> {
        let port = url.port_or_known_default().unwrap_or(0);
        let ip = match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(Host::Domain(name)) => return self.lookup(name, port).await,
            None => return Err((Refusal::BadRequest, "the URL has no host".to_owned())),
        };
        let class = addr::classify(ip);
        if class != Class::Public && !names_address {
            return Err(refused(&ip.to_string(), ip, class));
        }
        Ok(vec![SocketAddr::new(ip, port)])
    }

    async fn lookup(&self, name: &str, port: u16) -> Result<Vec<SocketAddr>, Unusable> {
        if let Some(pinned) = self.pins.get(name) {
            return Ok(pinned.iter().map(|&ip| SocketAddr::new(ip, port)).collect());
        }
        let found = tokio::time::timeout(self.timeout, tokio::net::lookup_host((name, port)))
            .await
            .map_err(|_| {
                (
                    Refusal::Unresolved,
                    format!("resolving `{name}` took longer than {:?}", self.timeout),
                )
            })?
            .map_err(|e| (Refusal::Unresolved, format!("cannot resolve `{name}`: {e}")))?;
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for a in found {
            let class = addr::classify(a.ip());
            // One address outside the public internet refuses the name: a name that answers
            // both is how rebinding attacks look.
            if class != Class::Public {
                return Err(refused(name, a.ip(), class));
            }
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
        if addrs.is_empty() {
            return Err((
                Refusal::Unresolved,
                format!("`{name}` resolves to no address"),
            ));
        }
        Ok(addrs)
    }
}

fn refused(host: &str, ip: IpAddr, class: Class) -> Unusable {
    (
        Refusal::Address(class),
        format!(
            "`{host}` is {ip}, a {} address; a grant must name that address literally to reach it",
            class.as_str()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[tokio::test]
    async fn literal_addresses_need_a_grant_that_names_them() {
        let r = Resolver::new(HashMap::new(), Duration::from_secs(1));
        let err = r
            .addresses(&url("http://127.0.0.1:8080/"), false)
            .await
            .unwrap_err();
        assert_eq!(err.0, Refusal::Address(Class::Loopback));
        assert!(err.1.contains("127.0.0.1"), "{}", err.1);
        assert_eq!(
            r.addresses(&url("http://127.0.0.1:8080/"), true)
                .await
                .unwrap(),
            vec!["127.0.0.1:8080".parse().unwrap()]
        );
        let err = r
            .addresses(&url("http://169.254.169.254/"), false)
            .await
            .unwrap_err();
        assert_eq!(err.0, Refusal::Address(Class::Metadata));
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_and_a_pin_is_trusted() {
        let r = Resolver::new(
            HashMap::from([(
                "upstream.test".to_owned(),
                vec!["127.0.0.1".parse().unwrap()],
            )]),
            Duration::from_secs(5),
        );
        let err = r
            .addresses(&url("http://localhost:9/"), false)
            .await
            .unwrap_err();
        assert!(
            matches!(err.0, Refusal::Address(Class::Loopback)),
            "{err:?}"
        );
        assert_eq!(
            r.addresses(&url("https://upstream.test:8443/"), false)
                .await
                .unwrap(),
            vec!["127.0.0.1:8443".parse().unwrap()]
        );
    }
}
