//! Decisions (SPEC P-1): an effect, a reason from a closed set, the rule that decided, and
//! obligations for the enforcement point.

use std::fmt;

use serde::Serialize;

/// What the enforcement point does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Let the action happen.
    Allow,
    /// Stop it.
    Deny,
    /// Stop it until a just-in-time approval covers it.
    ApprovalRequired,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::ApprovalRequired => "approval_required",
        })
    }
}

/// Why. A closed set: enforcement points match on it exhaustively, so a new reason is a compile
/// error wherever it must be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A manifest grant covers the action (and any policies agree).
    Granted,
    /// A grant covers it and a verified approval unlocked its `requiresApproval` entry.
    GrantedWithApproval,
    /// No grant of the manifest covers the action (default deny).
    NoGrant,
    /// The executable is granted, but not with these arguments.
    ArgsNotAllowed,
    /// A `denyPaths` entry covers the path.
    DeniedPath,
    /// A `requiresApproval` entry covers the action and no verified approval unlocks it.
    ApprovalRequired,
    /// A Rego policy denied (a `deny` rule held, or `allow` was not true).
    PolicyDenied,
    /// A Rego policy failed to evaluate or returned something that is not a decision.
    PolicyError,
    /// The manifest's `expires` has passed at the request's time.
    ManifestExpired,
    /// The request lacks something the decision needs.
    InvalidRequest,
}

impl Reason {
    /// The effect this reason leads to.
    pub fn effect(self) -> Effect {
        match self {
            Self::Granted | Self::GrantedWithApproval => Effect::Allow,
            Self::ApprovalRequired => Effect::ApprovalRequired,
            Self::NoGrant
            | Self::ArgsNotAllowed
            | Self::DeniedPath
            | Self::PolicyDenied
            | Self::PolicyError
            | Self::ManifestExpired
            | Self::InvalidRequest => Effect::Deny,
        }
    }

    /// The reason's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::GrantedWithApproval => "granted_with_approval",
            Self::NoGrant => "no_grant",
            Self::ArgsNotAllowed => "args_not_allowed",
            Self::DeniedPath => "denied_path",
            Self::ApprovalRequired => "approval_required",
            Self::PolicyDenied => "policy_denied",
            Self::PolicyError => "policy_error",
            Self::ManifestExpired => "manifest_expired",
            Self::InvalidRequest => "invalid_request",
        }
    }
}

/// Which part of the manifest or which policy decided. Indexes point into the manifest's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "index", rename_all = "camelCase")]
pub enum Rule {
    /// `readPaths[i]`.
    ReadPaths(usize),
    /// `writePaths[i]`.
    WritePaths(usize),
    /// `denyPaths[i]`.
    DenyPaths(usize),
    /// `networkScopes[i]`.
    NetworkScopes(usize),
    /// `apiScopes[i]`.
    ApiScopes(usize),
    /// The i-th HTTP endpoint or MCP tool of `apis` (in compiled order).
    Apis(usize),
    /// `commandsAllowed[i]`.
    CommandsAllowed(usize),
    /// `requiresApproval[i]`.
    RequiresApproval(usize),
    /// The i-th loaded Rego policy.
    Policy(usize),
    /// The manifest's `expires`.
    Expires,
}

/// Something the enforcement point must do when it lets the action happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Obligation {
    /// Scan outgoing content with the manifest's `dlp` actions.
    InspectContent,
    /// Add the credential of the i-th `apis` entry (sorted by scope) to the request.
    InjectCredential {
        /// Index of the `apis` entry.
        api: usize,
    },
}

/// A decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// What to do.
    pub effect: Effect,
    /// Why.
    pub reason: Reason,
    /// The grant, deny entry, approval entry or policy that decided; none for a default deny.
    pub rule: Option<Rule>,
    /// The id of the verified approval that unlocked the action, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// Messages from policies (`deny` rule values), for people.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    /// What the enforcement point must also do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub obligations: Vec<Obligation>,
}

impl Decision {
    /// A decision for `reason` by `rule`.
    pub fn new(reason: Reason, rule: Option<Rule>) -> Self {
        Self {
            effect: reason.effect(),
            reason,
            rule,
            approval_id: None,
            messages: Vec::new(),
            obligations: Vec::new(),
        }
    }

    /// Whether the action may happen.
    pub fn is_allow(&self) -> bool {
        self.effect == Effect::Allow
    }
}
