//! The proxy's question to the policy decision point, and the answer's parts it acts on.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

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

    /// Decide on `method` to `url` now.
    pub fn decide(&self, method: &str, url: &Url) -> Verdict {
        let method = method.to_ascii_uppercase();
        let req = Request {
            resource: Resource::Network {
                url: url.clone(),
                method: method.clone(),
            },
            principal: self.principal.clone(),
            agent: Some(self.pdp.agent().to_owned()),
            scopes: Vec::new(),
            grants: Vec::new(),
            time: Some(OffsetDateTime::now_utc()),
        };
        let decision = self.pdp.decide(&req);
        let rule = decision.rule.map(|r| self.describe(r));
        let literal = matches!(url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)));
        let names_address = decision.is_allow() && literal && self.pdp.names_host(&method, url);
        Verdict {
            decision,
            rule,
            names_address,
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
