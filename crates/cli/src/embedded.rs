//! Defaults compiled into the binary: the shipped role templates and group mapping.

/// `(name, JSON)` of every shipped template.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "finance-analyst-agent",
        include_str!("../../../templates/finance-analyst-agent.json"),
    ),
    (
        "legal-drafting-agent",
        include_str!("../../../templates/legal-drafting-agent.json"),
    ),
    (
        "developer-agent",
        include_str!("../../../templates/developer-agent.json"),
    ),
    (
        "claude-code-agent",
        include_str!("../../../templates/claude-code-agent.json"),
    ),
    (
        "sample-agent",
        include_str!("../../../templates/sample-agent.json"),
    ),
];

/// The quickstart's sample agent script.
pub const SAMPLE_AGENT: &str = include_str!("assets/sample-agent.sh");

/// The shipped group → template mapping.
pub const GROUPS: &str = include_str!("../../../templates/groups.json");

/// A shipped template by name.
pub fn template(name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
