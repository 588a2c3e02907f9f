//! The proxy's question to the policy decision point, and the answer's parts it acts on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use cordon_policy::pdp::{Decision, Obligation, Pdp, Principal, Request, Resource, Rule};
use time::OffsetDateTime;
use url::Url;

/// The compiled manifest the proxy enforces, and for whom.
#[derive(Debug)]
pub struct Gate {
    pdp: Pdp,
    principal: Principal,
    /// The description of each rule a decision named so far (at most one per manifest entry):
    /// every allowed request names its grant, and describing one formats that entry.
    described: RwLock<HashMap<Rule, Arc<str>>>,
    /// A request to the PDP kept between decisions: the principal and agent stay, the method,
    /// the URL (lent for the decision) and the time change. Asking without building a request
    /// each time saves five allocations a request; a decision that finds it in use builds its
    /// own.
    scratch: Mutex<Option<Request>>,
}

/// A decision, with what the proxy needs beyond it.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The PDP's decision.
    pub decision: Decision,
    /// The deciding grant or entry, described for people and the audit log.
    pub rule: Option<Arc<str>>,
    /// Whether a grant covering the request names its host as that IP address literally: only
    /// then may a loopback, private or other non-public address be reached.
    pub names_address: bool,
}

impl Verdict {
    /// Whether the manifest asks for the content to be inspected.
    pub fn wants_inspection(&self) -> bool {
        self.decision
            .obligations
            .contains(&Obligation::InspectContent)
    }
}

impl Gate {
    /// A gate over a compiled (and verified) manifest.
    pub fn new(pdp: Pdp, principal: Principal) -> Self {
        Self {
            pdp,
            principal,
            described: RwLock::default(),
            scratch: Mutex::new(None),
        }
    }

    /// The agent the manifest is for.
    pub fn agent(&self) -> &str {
        self.pdp.agent()
    }

    /// Whether some grant reaches the URL's host and port, at some path or with some method.
    pub fn grants_host(&self, url: &Url) -> bool {
        self.pdp.grants_host(url)
    }

    /// Whether requests to the URL's host may need a credential added (so must be seen).
    pub fn injects_on_host(&self, url: &Url) -> bool {
        self.pdp.injects_on_host(url)
    }

    /// Whether a grant reaching the URL's host at some path is written with that IP address: a
    /// tunnel opened for inspection may then connect to it, whatever its kind.
    pub fn names_address_anywhere(&self, url: &Url) -> bool {
        matches!(url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)))
            && self.pdp.names_host_anywhere(url)
    }

    /// Decide on `method` to `url` now. The URL is lent to the PDP's request for the decision
    /// (swapped in and back, not copied): it is as it was when this returns.
    pub fn decide(&self, method: &str, url: &mut Url) -> Verdict {
        let time = Some(OffsetDateTime::now_utc());
        let (decision, names_address) = match self.scratch.try_lock() {
            Ok(mut scratch) => {
                let req = scratch.get_or_insert_with(|| self.request(method, url.clone()));
                req.time = time;
                if lend(req, Some(method), url) {
                    let decision = self.pdp.decide(req);
                    // Given back.
                    lend(req, None, url);
                    let names = match &req.resource {
                        Resource::Network { method, .. } => {
                            self.names_address(&decision, method, url)
                        }
                        _ => false,
                    };
                    (decision, names)
                } else {
                    // Only ever a network request; should it not be, ask afresh.
                    drop(scratch);
                    self.decide_afresh(method, url, time)
                }
            }
            Err(_) => self.decide_afresh(method, url, time),
        };
        let rule = decision.rule.map(|r| self.describe(r));
        Verdict {
            decision,
            rule,
            names_address,
        }
    }

    /// [`decide`](Self::decide) with a request of its own.
    fn decide_afresh(
        &self,
        method: &str,
        url: &Url,
        time: Option<OffsetDateTime>,
    ) -> (Decision, bool) {
        let mut req = self.request(method, url.clone());
        req.time = time;
        let decision = self.pdp.decide(&req);
        let names = match &req.resource {
            Resource::Network { method, .. } => self.names_address(&decision, method, url),
            _ => false,
        };
        (decision, names)
    }

    /// Whether an allowed request to `url`, an IP literal, is allowed by a grant that names
    /// that address (`method` upper case).
    fn names_address(&self, decision: &Decision, method: &str, url: &Url) -> bool {
        let literal = matches!(url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)));
        decision.is_allow() && literal && self.pdp.names_host(method, url)
    }

    /// A request to the PDP for `method` to `url`, by this gate's principal and agent.
    fn request(&self, method: &str, url: Url) -> Request {
        Request {
            resource: Resource::Network {
                url,
                method: method.to_ascii_uppercase(),
            },
            principal: self.principal.clone(),
            agent: Some(self.pdp.agent().to_owned()),
            scopes: Vec::new(),
            grants: Vec::new(),
            time: None,
        }
    }

    /// `rule` described, as [`Pdp::describe`] does, once per rule.
    fn describe(&self, rule: Rule) -> Arc<str> {
        if let Some(known) = self
            .described
            .read()
            .ok()
            .and_then(|d| d.get(&rule).cloned())
        {
            return known;
        }
        let text: Arc<str> = self.pdp.describe(rule).into();
        if let Ok(mut d) = self.described.write() {
            d.insert(rule, Arc::clone(&text));
        }
        text
    }
}

/// Swap `url` with the URL of `req`, a network request, and set its method (upper case) when
/// given; whether `req` is one.
fn lend(req: &mut Request, method: Option<&str>, url: &mut Url) -> bool {
    let Resource::Network {
        url: lent,
        method: upper,
    } = &mut req.resource
    else {
        return false;
    };
    if let Some(method) = method {
        upper.clear();
        upper.push_str(method);
        upper.make_ascii_uppercase();
    }
    std::mem::swap(lent, url);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_policy::manifest;
    use cordon_policy::pdp::CompileOptions;

    fn gate() -> Gate {
        let m = manifest::parse(
            br#"{"agentName":"a","version":"1.0.0","networkScopes":["http://10.0.0.7:8080/api","https://api.example.com"],
                "apiScopes":["x:read"],"apis":{"x:read":{"endpoints":[{"url":"https://10.0.0.8","methods":["GET"]}]}}}"#,
            "m.json",
        )
        .unwrap();
        let pdp = Pdp::compile(&m, &CompileOptions::default()).unwrap();
        Gate::new(pdp, Principal::default())
    }

    /// What a gate decides on its reused request, and what it decides on a request of its own
    /// (as it does when another decision holds the reused one), are the PDP's decision on a
    /// request built afresh; the URL lent to the request is given back as it was.
    #[test]
    fn a_reused_request_decides_as_a_fresh_one() {
        let g = gate();
        let cases = [
            ("get", "http://10.0.0.7:8080/api/v1"),
            ("POST", "http://10.0.0.7:8080/other"),
            ("GET", "https://10.0.0.8/"),
            ("delete", "https://10.0.0.8/"),
            ("GET", "https://api.example.com/v1"),
            ("GET", "https://evil.example/"),
        ];
        // Twice round, so each case also follows a different one on the reused request.
        for (method, text) in cases.iter().chain(&cases) {
            let original = Url::parse(text).unwrap();
            let fresh = g.pdp.decide(&Request {
                resource: Resource::Network {
                    url: original.clone(),
                    method: method.to_ascii_uppercase(),
                },
                principal: Principal::default(),
                agent: Some("a".into()),
                scopes: Vec::new(),
                grants: Vec::new(),
                time: Some(OffsetDateTime::now_utc()),
            });
            let mut url = original.clone();
            let reused = g.decide(method, &mut url);
            assert_eq!(url, original, "{method} {text}: the URL comes back");
            assert_eq!(reused.decision, fresh, "{method} {text}");
            let held = g.scratch.lock().unwrap();
            let mut url = original.clone();
            let own = g.decide(method, &mut url);
            drop(held);
            assert_eq!(url, original);
            assert_eq!(
                own.decision, fresh,
                "{method} {text}: with the request in use"
            );
            assert_eq!(own.names_address, reused.names_address, "{method} {text}");
            assert_eq!(own.rule, reused.rule);
        }
        // An allowed request to an address written in a grant names it; one covered otherwise
        // does not.
        let mut named = Url::parse("http://10.0.0.7:8080/api/x").unwrap();
        assert!(g.decide("GET", &mut named).names_address);
    }
}
