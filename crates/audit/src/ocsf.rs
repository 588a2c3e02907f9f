//! The event model (SPEC A-1): every decision cordon makes, as an OCSF 1.8 event.
//!
//! An [`Event`] is built from an [`Activity`] (which fixes the OCSF class, category and activity
//! ids), the class's own attributes, and the [`Verdict`] of the enforcement point; [`Event::finish`]
//! adds what every event carries — `metadata` (product, schema version, profiles), `time`,
//! `severity`, `status`, the `host` profile's `actor` and `device`, and the `security_control`
//! profile's `action`, `disposition` and `policy` — and returns the JSON object the log seals.
//!
//! cordon's own fields sit in one place in every class, `unmapped.cordon`: `agent`,
//! `manifest_digest`, `component`, `decision`, `reason`, `rule`, and the approval and token ids
//! once approvals exist. Queries and detections read them there; OCSF consumers also find the
//! standard mapping (`actor.app_name` is the agent, `policy.uid` the manifest digest,
//! `action_id`/`disposition_id` the decision).
//!
//! Every event shape is checked against the OCSF 1.8 schema in the tests (required attributes,
//! types, enum ids and their captions, constraints).

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use crate::canonical::{Canonical, Object};
use serde_json::{Map, Value, json};

/// The OCSF schema version events follow.
pub const SCHEMA_VERSION: &str = "1.8.0";

/// The OCSF profiles every event declares.
const PROFILES: [&str; 2] = ["host", "security_control"];

/// An OCSF event class cordon emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// File System Activity (1001).
    FileSystem,
    /// Process Activity (1007).
    Process,
    /// Detection Finding (2004).
    DetectionFinding,
    /// Authorize Session (3003): the privileges a manifest grants an agent's session.
    AuthorizeSession,
    /// Network Activity (4001): tunnels the proxy does not look into.
    Network,
    /// HTTP Activity (4002): requests the proxy sees.
    Http,
    /// Application Lifecycle (6002): manifest verification.
    ApplicationLifecycle,
    /// API Activity (6003): tool and API calls that are neither files, processes nor HTTP.
    Api,
}

impl Class {
    /// Every class, for tests and documentation.
    pub const ALL: [Self; 8] = [
        Self::FileSystem,
        Self::Process,
        Self::DetectionFinding,
        Self::AuthorizeSession,
        Self::Network,
        Self::Http,
        Self::ApplicationLifecycle,
        Self::Api,
    ];

    /// `class_uid`.
    pub fn uid(self) -> u32 {
        match self {
            Self::FileSystem => 1001,
            Self::Process => 1007,
            Self::DetectionFinding => 2004,
            Self::AuthorizeSession => 3003,
            Self::Network => 4001,
            Self::Http => 4002,
            Self::ApplicationLifecycle => 6002,
            Self::Api => 6003,
        }
    }

    /// `class_name`.
    pub fn name(self) -> &'static str {
        match self {
            Self::FileSystem => "File System Activity",
            Self::Process => "Process Activity",
            Self::DetectionFinding => "Detection Finding",
            Self::AuthorizeSession => "Authorize Session",
            Self::Network => "Network Activity",
            Self::Http => "HTTP Activity",
            Self::ApplicationLifecycle => "Application Lifecycle",
            Self::Api => "API Activity",
        }
    }

    /// `category_uid` and `category_name`.
    pub fn category(self) -> (u32, &'static str) {
        match self {
            Self::FileSystem | Self::Process => (1, "System Activity"),
            Self::DetectionFinding => (2, "Findings"),
            Self::AuthorizeSession => (3, "Identity & Access Management"),
            Self::Network | Self::Http => (4, "Network Activity"),
            Self::ApplicationLifecycle | Self::Api => (6, "Application Activity"),
        }
    }

    /// The class a name given on the command line means: its OCSF name in snake case
    /// (`http_activity`), a short name (`http`, `file`, `process`, `network`, `api`,
    /// `authorization`, `lifecycle`, `finding`) or its `class_uid`.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|c| {
            let snake = match c {
                Self::FileSystem => "file_activity",
                Self::Process => "process_activity",
                Self::DetectionFinding => "detection_finding",
                Self::AuthorizeSession => "authorize_session",
                Self::Network => "network_activity",
                Self::Http => "http_activity",
                Self::ApplicationLifecycle => "application_lifecycle",
                Self::Api => "api_activity",
            };
            [c.short_name(), snake].contains(&t.as_str()) || c.uid().to_string() == t
        })
    }

    /// The short name cordon uses for the class: on the command line, in metric labels, as the
    /// syslog MSGID.
    pub fn short_name(self) -> &'static str {
        match self {
            Self::FileSystem => "file",
            Self::Process => "process",
            Self::DetectionFinding => "finding",
            Self::AuthorizeSession => "authorization",
            Self::Network => "network",
            Self::Http => "http",
            Self::ApplicationLifecycle => "lifecycle",
            Self::Api => "api",
        }
    }

    /// The class with this `class_uid`, if cordon emits it.
    pub fn of_uid(uid: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|c| u64::from(c.uid()) == uid)
    }
}

/// What happened, as OCSF names it: the class and its `activity_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activity {
    /// A file is created.
    FileCreate,
    /// A file is read (or a directory listed).
    FileRead,
    /// A file is written.
    FileUpdate,
    /// A file is deleted.
    FileDelete,
    /// A process is started.
    ProcessLaunch,
    /// A process ended.
    ProcessTerminate,
    /// A finding is raised.
    FindingCreate,
    /// Privileges are assigned to a session.
    AssignPrivileges,
    /// A connection was opened and has ended: its traffic.
    NetworkClose,
    /// A connection was refused.
    NetworkRefuse,
    /// An HTTP request, by method (`CONNECT` included).
    Http(HttpMethod),
    /// An API call that creates something.
    ApiCreate,
    /// An API call that reads something.
    ApiRead,
    /// An API call that changes something.
    ApiUpdate,
    /// An API call that deletes something.
    ApiDelete,
    /// An API call OCSF has no verb for; `activity_name` says what.
    ApiOther(&'static str),
    /// An application (here: an agent's manifest) was checked before it runs.
    Verify,
    /// An application started.
    AppStart,
    /// An application stopped.
    AppStop,
}

/// HTTP methods as OCSF HTTP Activity knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// CONNECT.
    Connect,
    /// DELETE.
    Delete,
    /// GET.
    Get,
    /// HEAD.
    Head,
    /// OPTIONS.
    Options,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// TRACE.
    Trace,
    /// PATCH.
    Patch,
    /// Any other method (the event keeps its name in `http_request.http_method`).
    Other,
}

impl HttpMethod {
    /// The method `name` is (case-sensitive, as HTTP methods are).
    pub fn of(name: &str) -> Self {
        match name {
            "CONNECT" => Self::Connect,
            "DELETE" => Self::Delete,
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "OPTIONS" => Self::Options,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "TRACE" => Self::Trace,
            "PATCH" => Self::Patch,
            _ => Self::Other,
        }
    }

    fn id_and_name(self) -> (u32, &'static str) {
        match self {
            Self::Connect => (1, "Connect"),
            Self::Delete => (2, "Delete"),
            Self::Get => (3, "Get"),
            Self::Head => (4, "Head"),
            Self::Options => (5, "Options"),
            Self::Post => (6, "Post"),
            Self::Put => (7, "Put"),
            Self::Trace => (8, "Trace"),
            Self::Patch => (9, "Patch"),
            Self::Other => (99, "Other"),
        }
    }
}

impl Activity {
    /// The class the activity belongs to.
    pub fn class(self) -> Class {
        match self {
            Self::FileCreate | Self::FileRead | Self::FileUpdate | Self::FileDelete => {
                Class::FileSystem
            }
            Self::ProcessLaunch | Self::ProcessTerminate => Class::Process,
            Self::FindingCreate => Class::DetectionFinding,
            Self::AssignPrivileges => Class::AuthorizeSession,
            Self::NetworkClose | Self::NetworkRefuse => Class::Network,
            Self::Http(_) => Class::Http,
            Self::ApiCreate
            | Self::ApiRead
            | Self::ApiUpdate
            | Self::ApiDelete
            | Self::ApiOther(_) => Class::Api,
            Self::Verify | Self::AppStart | Self::AppStop => Class::ApplicationLifecycle,
        }
    }

    /// `activity_id` and `activity_name`.
    pub fn id_and_name(self) -> (u32, &'static str) {
        match self {
            Self::FileCreate | Self::ApiCreate | Self::FindingCreate => (1, "Create"),
            Self::FileRead | Self::ApiRead => (2, "Read"),
            Self::FileUpdate | Self::ApiUpdate => (3, "Update"),
            Self::FileDelete | Self::ApiDelete => (4, "Delete"),
            Self::ProcessLaunch => (1, "Launch"),
            Self::ProcessTerminate => (2, "Terminate"),
            Self::AssignPrivileges => (1, "Assign Privileges"),
            Self::NetworkClose => (2, "Close"),
            Self::NetworkRefuse => (5, "Refuse"),
            Self::Http(m) => m.id_and_name(),
            Self::ApiOther(name) => (99, name),
            Self::Verify => (99, "Verify"),
            Self::AppStart => (3, "Start"),
            Self::AppStop => (4, "Stop"),
        }
    }
}

/// What the enforcement point decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// It went ahead.
    Allow,
    /// It was refused.
    Deny,
    /// It waits for a person's approval.
    Ask,
    /// It went ahead with content replaced (DLP redaction).
    Redact,
    /// It went ahead and raised an alert (a DLP `alert` rule).
    Alert,
    /// Nothing was decided: the event reports a fact (a process ended, a finding).
    None,
}

impl Verdict {
    /// The wire name in `unmapped.cordon.decision`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Ask => "ask",
            Self::Redact => "redact",
            Self::Alert => "alert",
            Self::None => "none",
        }
    }

    /// The verdict a wire name means.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Allow,
            Self::Deny,
            Self::Ask,
            Self::Redact,
            Self::Alert,
            Self::None,
        ]
        .into_iter()
        .find(|v| v.as_str() == text)
    }

    /// `action_id`/`action` and `disposition_id`/`disposition` of the security control
    /// profile.
    fn action_and_disposition(self) -> ((u32, &'static str), (u32, &'static str)) {
        match self {
            Self::Allow => ((1, "Allowed"), (1, "Allowed")),
            Self::Deny => ((2, "Denied"), (2, "Blocked")),
            Self::Ask => ((2, "Denied"), (23, "Challenge")),
            Self::Redact => ((4, "Modified"), (11, "Corrected")),
            Self::Alert => ((1, "Allowed"), (19, "Alert")),
            Self::None => ((3, "Observed"), (17, "Logged")),
        }
    }

    /// The severity an event with this verdict gets unless its emitter says otherwise.
    fn severity(self) -> Severity {
        match self {
            Self::Allow | Self::None => Severity::Informational,
            Self::Ask | Self::Redact | Self::Alert => Severity::Low,
            Self::Deny => Severity::Medium,
        }
    }
}

/// `severity_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// 1.
    Informational,
    /// 2.
    Low,
    /// 3.
    Medium,
    /// 4.
    High,
    /// 5.
    Critical,
}

impl Severity {
    fn id_and_name(self) -> (u32, &'static str) {
        match self {
            Self::Informational => (1, "Informational"),
            Self::Low => (2, "Low"),
            Self::Medium => (3, "Medium"),
            Self::High => (4, "High"),
            Self::Critical => (5, "Critical"),
        }
    }

    /// The severity a name (`low`, `high` …, as Sigma levels are written) means.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "informational" | "info" => Some(Self::Informational),
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" => Some(Self::High),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }
}

/// Who and where an event is about: the same for every event one process emits for an agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// The component emitting (`run`, `proxy`, `hook`, `detect` …).
    pub component: &'static str,
    /// The agent, as its manifest names it (empty when no manifest could be read).
    pub agent: String,
    /// The user the agent acts for.
    pub user: String,
    /// The machine's host name.
    pub host: String,
    /// The verified manifest's digest (`sha256:…`), when one was verified.
    pub manifest_digest: Option<String>,
    /// What ties this process's events together (a `cordon run` id, a Claude Code session).
    pub correlation: Option<String>,
}

/// One event being built.
#[derive(Debug, Clone)]
pub struct Event {
    activity: Activity,
    time_ms: i64,
    verdict: Verdict,
    severity: Option<Severity>,
    failure: Option<String>,
    message: Option<String>,
    attributes: Map<String, Value>,
    /// Attributes written canonically already (kept apart from `attributes`, never both).
    written: Vec<(&'static str, Canonical)>,
    /// cordon's fields, in order of name.
    cordon: Vec<(&'static str, Own)>,
}

/// The value of one of cordon's fields: most are text, kept as text rather than as a JSON value
/// (an event is written many times a second).
#[derive(Debug, Clone)]
enum Own {
    Text(Cow<'static, str>),
    Shared(Arc<str>),
    Json(Value),
}

impl Own {
    fn into_value(self) -> Value {
        match self {
            Self::Text(t) => Value::String(t.into_owned()),
            Self::Shared(t) => Value::String(t.as_ref().to_owned()),
            Self::Json(v) => v,
        }
    }

    fn write(&self, o: &mut Object, name: &str) {
        match self {
            Self::Text(t) => o.str(name, t),
            Self::Shared(t) => o.str(name, t),
            Self::Json(v) => o.value(name, v),
        };
    }
}

impl Event {
    /// An event for `activity` that happened at `time_ms` (milliseconds since the epoch).
    pub fn new(activity: Activity, time_ms: i64) -> Self {
        Self {
            activity,
            time_ms,
            verdict: Verdict::None,
            severity: None,
            failure: None,
            message: None,
            attributes: Map::new(),
            written: Vec::new(),
            cordon: Vec::new(),
        }
    }

    /// The decision, its reason (a wire name such as `path_denied`) and the deciding rule.
    #[must_use]
    pub fn decided(mut self, verdict: Verdict, reason: &str, rule: Option<&str>) -> Self {
        self.verdict = verdict;
        self.set_cordon("reason", Own::Text(Cow::Owned(reason.to_owned())));
        if let Some(rule) = rule {
            self.set_cordon("rule", Own::Text(Cow::Owned(rule.to_owned())));
        }
        self
    }

    /// As [`decided`](Self::decided), without copying the reason or the rule's description.
    #[must_use]
    pub fn decided_by(
        mut self,
        verdict: Verdict,
        reason: &'static str,
        rule: Option<Arc<str>>,
    ) -> Self {
        self.verdict = verdict;
        self.set_cordon("reason", Own::Text(Cow::Borrowed(reason)));
        if let Some(rule) = rule {
            self.set_cordon("rule", Own::Shared(rule));
        }
        self
    }

    /// Mark the activity failed (`status_id` 2), with what went wrong.
    #[must_use]
    pub fn failed(mut self, detail: impl Into<String>) -> Self {
        self.failure = Some(detail.into());
        self
    }

    /// Override the severity the verdict implies.
    #[must_use]
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = Some(severity);
        self
    }

    /// A sentence for people (`message`).
    #[must_use]
    pub fn message(mut self, text: impl Into<String>) -> Self {
        self.message = Some(text.into());
        self
    }

    /// An OCSF attribute of the class (`file`, `process`, `http_request` …).
    #[must_use]
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.written.retain(|(k, _)| *k != name);
        self.attributes.insert(name.into(), value);
        self
    }

    /// An attribute of the class already in canonical form (see [`canonical::Object`]), for
    /// events written many times a second; as [`with`](Self::with) otherwise.
    ///
    /// [`canonical::Object`]: crate::canonical::Object
    #[must_use]
    pub fn with_canonical(mut self, name: &'static str, value: Canonical) -> Self {
        self.attributes.remove(name);
        self.written.retain(|(k, _)| *k != name);
        self.written.push((name, value));
        self
    }

    /// A cordon field under `unmapped.cordon`.
    #[must_use]
    pub fn cordon(mut self, name: &'static str, value: Value) -> Self {
        self.set_cordon(name, Own::Json(value));
        self
    }

    /// A cordon field that is text; as [`cordon`](Self::cordon), without a JSON value.
    #[must_use]
    pub fn cordon_text(mut self, name: &'static str, text: impl Into<Cow<'static, str>>) -> Self {
        self.set_cordon(name, Own::Text(text.into()));
        self
    }

    /// Set a cordon field, replacing one of the same name; the fields stay in order of name.
    fn set_cordon(&mut self, name: &'static str, value: Own) {
        match self.cordon.binary_search_by(|(k, _)| (*k).cmp(name)) {
            Ok(i) => {
                if let Some(field) = self.cordon.get_mut(i) {
                    field.1 = value;
                }
            }
            Err(i) => self.cordon.insert(i, (name, value)),
        }
    }

    /// The activity.
    pub fn activity(&self) -> Activity {
        self.activity
    }

    /// The finished OCSF event.
    pub fn finish(mut self, subject: &Subject, product_version: &str) -> Value {
        // Attributes written canonically read back as the values they are.
        for (name, value) in self.written.drain(..) {
            if let Ok(v) = serde_json::from_slice(value.as_bytes()) {
                self.attributes.insert(name.into(), v);
            }
        }
        let ids = self.ids();
        let class = ids.class;
        let (category_uid, category_name) = ids.category;
        let (activity_id, activity_name) = ids.activity;
        let (severity_id, severity) = ids.severity;
        let ((action_id, action), (disposition_id, disposition)) = (ids.action, ids.disposition);
        let mut metadata = json!({
            "version": SCHEMA_VERSION,
            "product": {"name": "cordon", "vendor_name": "cordon", "version": product_version,
                        "feature": {"name": subject.component}},
            "profiles": PROFILES,
            "log_name": "cordon",
        });
        if let (Some(c), Some(m)) = (&subject.correlation, metadata.as_object_mut()) {
            m.insert("correlation_uid".into(), c.as_str().into());
        }
        let mut actor = json!({"user": {"name": subject.user}});
        if !subject.agent.is_empty()
            && let Some(a) = actor.as_object_mut()
        {
            a.insert("app_name".into(), subject.agent.as_str().into());
        }
        let mut event = Map::new();
        let mut put = |k: &str, v: Value| {
            event.insert(k.into(), v);
        };
        put("class_uid", class.uid().into());
        put("class_name", class.name().into());
        put("category_uid", category_uid.into());
        put("category_name", category_name.into());
        put("activity_id", activity_id.into());
        put("activity_name", activity_name.into());
        put("type_uid", ids.type_uid.into());
        put(
            "type_name",
            format!("{}: {}", class.name(), ids.type_activity).into(),
        );
        put("time", self.time_ms.into());
        put("severity_id", severity_id.into());
        put("severity", severity.into());
        let (status_id, status) = ids.status;
        put("status_id", status_id.into());
        put("status", status.into());
        if let Some(detail) = self.failure {
            put("status_detail", detail.into());
        }
        if let Some(text) = self.message {
            put("message", text.into());
        }
        put("metadata", metadata);
        put("actor", actor);
        put(
            "device",
            json!({"hostname": subject.host, "name": subject.host, "type_id": 0, "type": "Unknown"}),
        );
        put("action_id", action_id.into());
        put("action", action.into());
        put("disposition_id", disposition_id.into());
        put("disposition", disposition.into());
        if let Some(digest) = &subject.manifest_digest {
            let mut policy = json!({"uid": digest, "type": "cordon manifest"});
            if !subject.agent.is_empty()
                && let Some(p) = policy.as_object_mut()
            {
                p.insert("name".into(), subject.agent.as_str().into());
            }
            put("policy", policy);
        }
        let mut cordon: Map<String, Value> = self
            .cordon
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_value()))
            .collect();
        cordon.insert("component".into(), subject.component.into());
        cordon.insert("decision".into(), self.verdict.as_str().into());
        if !subject.agent.is_empty() {
            cordon.insert("agent".into(), subject.agent.as_str().into());
        }
        if let Some(digest) = &subject.manifest_digest {
            cordon.insert("manifest_digest".into(), digest.as_str().into());
        }
        put("unmapped", json!({ "cordon": cordon }));
        // The class's own attributes last: they may refine `actor` (its process) but never
        // replace the envelope's ids.
        for (k, v) in self.attributes {
            match (k.as_str(), event.get_mut(&k)) {
                ("actor", Some(Value::Object(base))) => {
                    if let Value::Object(extra) = v {
                        base.extend(extra);
                    }
                }
                (_, Some(_)) => {}
                (_, None) => {
                    event.insert(k, v);
                }
            }
        }
        Value::Object(event)
    }
}

/// The ids and names an event's envelope carries, worked out once for both forms of
/// [`Event::finish`].
#[derive(Clone, Copy)]
struct Ids {
    class: Class,
    category: (u32, &'static str),
    activity: (u32, &'static str),
    type_uid: u64,
    /// The schema's caption of the type: an activity OCSF has no name for is `Other` here (its
    /// own name is in `activity_name`).
    type_activity: &'static str,
    severity: (u32, &'static str),
    status: (u32, &'static str),
    action: (u32, &'static str),
    disposition: (u32, &'static str),
}

impl Event {
    fn ids(&self) -> Ids {
        let class = self.activity.class();
        let activity = self.activity.id_and_name();
        let severity = self
            .severity
            .unwrap_or_else(|| self.verdict.severity())
            .id_and_name();
        let (action, disposition) = self.verdict.action_and_disposition();
        // A finding's status is its triage state (new, in progress …), not an outcome.
        let status = match (class, &self.failure) {
            (Class::DetectionFinding, _) => (1, "New"),
            (_, Some(_)) => (2, "Failure"),
            (_, None) => (1, "Success"),
        };
        Ids {
            class,
            category: class.category(),
            activity,
            type_uid: u64::from(class.uid()) * 100 + u64::from(activity.0),
            type_activity: if activity.0 == 99 {
                "Other"
            } else {
                activity.1
            },
            severity,
            status,
            action,
            disposition,
        }
    }

    /// The event as [`finish`](Self::finish) makes it for `source`, in canonical form, written
    /// without building the envelope as a JSON value: its attributes go through a [`Writer`] in
    /// order of name.
    pub fn finish_canonical(mut self, source: &Source) -> Canonical {
        // The class's own attributes may refine `actor`: that rare event is built as a value.
        if self.attributes.contains_key("actor") || self.written.iter().any(|(k, _)| *k == "actor")
        {
            return Canonical::of(&self.finish(&source.subject, &source.version));
        }
        // The class's attributes by name, through a writer that merges them in order with the
        // envelope's members (which replace any of the same name).
        let attributes = std::mem::take(&mut self.attributes);
        let written = std::mem::take(&mut self.written);
        let mut class: Vec<(&str, Attribute<'_>)> = attributes
            .iter()
            .map(|(k, v)| (k.as_str(), Attribute::Value(v)))
            .chain(written.iter().map(|(k, v)| (*k, Attribute::Written(v))))
            .collect();
        class.sort_by(|a, b| a.0.cmp(b.0));
        let mut w = self.writer(source);
        for (name, value) in class {
            match value {
                Attribute::Value(v) => w.value(name, v),
                Attribute::Written(v) => w.canonical(name, v),
            };
        }
        w.finish()
    }
}

impl Event {
    /// Write the event canonically with its class's attributes given one at a time, each
    /// written where it stays (for emitters that write one event per request, such as the
    /// proxy). The event's own attributes ([`with`](Self::with)) are not written: give them to
    /// the writer, in ascending order of name. As with [`finish`](Self::finish), an attribute
    /// named like a member the envelope has gives way to it, and `actor` is the source's.
    pub fn writer(self, source: &Source) -> Writer<'_> {
        self.writer_appending(source, Vec::with_capacity(2048))
    }

    /// As [`writer`](Self::writer), the event written after what `buf` holds (a batch of
    /// records on its way to the log), without a buffer of its own: see
    /// [`Writer::finish_appended`].
    pub fn writer_appending(self, source: &Source, buf: Vec<u8>) -> Writer<'_> {
        let ids = self.ids();
        let pieces = source.pieces(&Envelope {
            ids,
            source,
            event: &self,
        });
        Writer {
            source,
            event: self,
            ids,
            pieces,
            next: 0,
            from: 0,
            written: None,
            out: Object::appending(buf),
        }
    }
}

/// An event being written canonically, its class attributes given in ascending order of name
/// ([`Event::writer`]).
pub struct Writer<'s> {
    source: &'s Source,
    event: Event,
    ids: Ids,
    pieces: Arc<[Piece]>,
    /// The next piece of the envelope to write, and its next member when it is a run.
    next: usize,
    from: usize,
    /// The last member of the envelope written.
    written: Option<&'static str>,
    out: Object,
}

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("activity", &self.event.activity)
            .finish_non_exhaustive()
    }
}

impl Writer<'_> {
    /// A class attribute already in canonical form.
    pub fn canonical(&mut self, name: &str, value: &Canonical) -> &mut Self {
        if self.place(name) {
            self.out.canonical(name, value);
        }
        self
    }

    /// A class attribute from a JSON value.
    pub fn value(&mut self, name: &str, value: &Value) -> &mut Self {
        if self.place(name) {
            self.out.value(name, value);
        }
        self
    }

    /// A class attribute that is a number.
    pub fn u64(&mut self, name: &str, value: u64) -> &mut Self {
        if self.place(name) {
            self.out.u64(name, value);
        }
        self
    }

    /// A class attribute that is an object, its members written by `members`.
    pub fn object(&mut self, name: &str, members: impl FnOnce(&mut Object)) -> &mut Self {
        if self.place(name) {
            self.out.object(name, members);
        }
        self
    }

    /// The event in canonical form.
    pub fn finish(mut self) -> Canonical {
        self.envelope_before(None);
        self.out.finish()
    }

    /// The buffer given to [`Event::writer_appending`], the event after what it held.
    pub fn finish_appended(mut self) -> Vec<u8> {
        self.envelope_before(None);
        self.out.finish_appended()
    }

    /// Write the envelope's members that come before `name`; whether an attribute of that name
    /// is written (the envelope has no member of the name).
    fn place(&mut self, name: &str) -> bool {
        self.envelope_before(Some(name));
        let envelope = Envelope {
            ids: self.ids,
            source: self.source,
            event: &self.event,
        };
        let shadows = |piece: &Piece, from: usize| match piece {
            Piece::Own(own, part) => *own == name && part(&envelope).is_some(),
            Piece::Fixed(run) => run.names.get(from..).is_some_and(|n| n.contains(&name)),
        };
        if self.written.is_some_and(|last| !before(last, name)) {
            // Given out of order: the envelope may have written a member of the name already.
            return !self.pieces.iter().any(|piece| shadows(piece, 0));
        }
        // In order, only the next member can have the name.
        !self
            .pieces
            .get(self.next)
            .is_some_and(|piece| shadows(piece, self.from))
    }

    /// Write the envelope's members whose names come before `until` (all, with none).
    fn envelope_before(&mut self, until: Option<&str>) {
        let envelope = Envelope {
            ids: self.ids,
            source: self.source,
            event: &self.event,
        };
        while let Some(piece) = self.pieces.get(self.next) {
            match piece {
                Piece::Own(name, part) => {
                    if until.is_some_and(|u| !before(name, u)) {
                        return;
                    }
                    if let Some(field) = part(&envelope) {
                        envelope.write(&mut self.out, name, field);
                        self.written = Some(name);
                    }
                }
                Piece::Fixed(run) => {
                    let to = until.map_or(run.names.len(), |u| {
                        run.names.partition_point(|m| before(m, u))
                    });
                    if let Some(first) = run.names.get(self.from)
                        && to > self.from
                    {
                        let (bytes, last) = run.members(self.from, to);
                        self.out.members(first, bytes, last);
                        self.from = to;
                        self.written = run.names.get(to - 1).copied();
                    }
                    if self.from < run.names.len() {
                        return;
                    }
                    self.from = 0;
                }
            }
            self.next += 1;
        }
    }
}

/// Whether the name `a` comes strictly before `b` (see [`crate::canonical::precedes`]).
fn before(a: &str, b: &str) -> bool {
    crate::canonical::precedes(Some(a.as_bytes()), b.as_bytes())
}

/// Who emits events, with the members of their envelope that are the same in every event
/// written once, for [`Event::finish_canonical`].
#[derive(Debug, Clone)]
pub struct Source {
    subject: Subject,
    version: String,
    actor: Canonical,
    device: Canonical,
    metadata: Canonical,
    policy: Option<Canonical>,
    /// The envelope of each shape of event met so far, its fixed members written once. Bounded:
    /// a shape is made of enums and a flag. A list, not a map: a process meets a handful of
    /// shapes, and comparing a few small values costs less than hashing one.
    shapes: Arc<RwLock<Vec<Shaped>>>,
}

/// A shape and the pieces of its envelope.
type Shaped = (Shape, Arc<[Piece]>);

/// What fixes every member of an event's envelope but its own (`message`, `status_detail`,
/// `time`, `unmapped`): with the [`Source`], the ids, names, severity and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Shape {
    activity: Activity,
    verdict: Verdict,
    severity: Option<Severity>,
    failed: bool,
}

/// The envelope's members that each event fills in; the others are the same for every event of
/// a [`Shape`] from one [`Source`].
const OWN: [&str; 4] = ["message", "status_detail", "time", "unmapped"];

/// A part of the envelope of one [`Shape`], in canonical order.
#[derive(Debug)]
enum Piece {
    /// Consecutive members fixed by the shape and the source, written once.
    Fixed(Run),
    /// A member the event fills in.
    Own(&'static str, Part),
}

/// Members written once: `"name":value` each, separated by commas.
#[derive(Debug)]
struct Run {
    /// The members' names, ascending.
    names: Vec<&'static str>,
    /// Where each member starts in `bytes`.
    starts: Vec<usize>,
    bytes: Vec<u8>,
}

impl Run {
    /// Members `from..to` (`from < to`) as [`Object::members`] takes them: their bytes, and
    /// where the last one's name is in those bytes.
    fn members(&self, from: usize, to: usize) -> (&[u8], std::ops::Range<usize>) {
        let start = self.starts.get(from).copied().unwrap_or(self.bytes.len());
        // The comma before the next member is not this slice's.
        let end = self
            .starts
            .get(to)
            .map_or(self.bytes.len(), |next| next - 1);
        let last = self
            .starts
            .get(to.wrapping_sub(1))
            .copied()
            .unwrap_or(start);
        let name_len = self.names.get(to.wrapping_sub(1)).map_or(0, |n| n.len());
        // After the opening quote.
        let name = last - start + 1;
        (
            self.bytes.get(start..end).unwrap_or_default(),
            name..name + name_len,
        )
    }
}

impl Source {
    /// `subject` emitting, as cordon `product_version`.
    pub fn new(subject: Subject, product_version: &str) -> Self {
        let mut actor = Object::new();
        if !subject.agent.is_empty() {
            actor.str("app_name", &subject.agent);
        }
        actor.object("user", |u| {
            u.str("name", &subject.user);
        });
        let mut device = Object::new();
        device
            .str("hostname", &subject.host)
            .str("name", &subject.host)
            .str("type", "Unknown")
            .u64("type_id", 0);
        let mut metadata = Object::with_capacity(512);
        if let Some(c) = &subject.correlation {
            metadata.str("correlation_uid", c);
        }
        metadata
            .str("log_name", "cordon")
            .object("product", |p| {
                p.object("feature", |f| {
                    f.str("name", subject.component);
                })
                .str("name", "cordon")
                .str("vendor_name", "cordon")
                .str("version", product_version);
            })
            .canonical("profiles", &PROFILES_CANONICAL)
            .str("version", SCHEMA_VERSION);
        let policy = subject.manifest_digest.as_ref().map(|digest| {
            let mut policy = Object::new();
            if !subject.agent.is_empty() {
                policy.str("name", &subject.agent);
            }
            policy.str("type", "cordon manifest").str("uid", digest);
            policy.finish()
        });
        Self {
            actor: actor.finish(),
            device: device.finish(),
            metadata: metadata.finish(),
            policy,
            version: product_version.to_owned(),
            subject,
            shapes: Arc::default(),
        }
    }

    /// The envelope of `envelope`'s shape, its fixed members written when the shape is first met.
    fn pieces(&self, envelope: &Envelope<'_>) -> Arc<[Piece]> {
        let event = envelope.event;
        let shape = Shape {
            activity: event.activity,
            verdict: event.verdict,
            severity: event.severity,
            failed: event.failure.is_some(),
        };
        // A poisoned lock only means a writer panicked; the map itself is whole.
        if let Some((_, pieces)) = self
            .shapes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|(known, _)| *known == shape)
        {
            return Arc::clone(pieces);
        }
        let pieces: Arc<[Piece]> = render(envelope).into();
        let mut shapes = self
            .shapes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !shapes.iter().any(|(known, _)| *known == shape) {
            shapes.push((shape, Arc::clone(&pieces)));
        }
        pieces
    }

    /// Who emits.
    pub fn subject(&self) -> &Subject {
        &self.subject
    }
}

/// What the envelope of an event written canonically is made of.
struct Envelope<'a> {
    ids: Ids,
    source: &'a Source,
    event: &'a Event,
}

/// A class attribute of an event written canonically.
#[derive(Clone, Copy)]
enum Attribute<'a> {
    Value(&'a Value),
    Written(&'a Canonical),
}

/// One member of the envelope, as an event written canonically has it.
#[derive(Clone, Copy)]
enum Field<'a> {
    Str(&'a str),
    Number(u64),
    Signed(i64),
    /// Written once per process ([`Source`]).
    Written(&'a Canonical),
    /// A string made of parts.
    Concat([&'a str; 3]),
    /// cordon's own fields (`unmapped.cordon`).
    Unmapped,
}

impl Envelope<'_> {
    fn write(&self, o: &mut Object, name: &str, field: Field<'_>) {
        match field {
            Field::Str(s) => o.str(name, s),
            Field::Number(n) => o.u64(name, n),
            Field::Signed(n) => o.i64(name, n),
            Field::Written(c) => o.canonical(name, c),
            Field::Concat(parts) => o.concat(name, &parts),
            Field::Unmapped => o.object(name, |u| {
                u.object("cordon", |c| self.cordon(c));
            }),
        };
    }

    /// cordon's own fields: the envelope's (which win over an event's of the same name) merged
    /// in order with the event's.
    fn cordon(&self, c: &mut Object) {
        let subject = &self.source.subject;
        let own = [
            (!subject.agent.is_empty()).then_some(("agent", subject.agent.as_str())),
            Some(("component", subject.component)),
            Some(("decision", self.event.verdict.as_str())),
            subject
                .manifest_digest
                .as_deref()
                .map(|d| ("manifest_digest", d)),
        ];
        let mut own = own.into_iter().flatten().peekable();
        for &(k, ref v) in &self.event.cordon {
            while let Some((name, text)) = own.next_if(|(name, _)| *name < k) {
                c.str(name, text);
            }
            if own.peek().is_none_or(|(name, _)| *name != k) {
                v.write(c, k);
            }
        }
        for (name, text) in own {
            c.str(name, text);
        }
    }
}

/// One member of the envelope for an event; `None` when the event has none.
type Part = for<'a> fn(&'a Envelope<'a>) -> Option<Field<'a>>;

/// The envelope's members in canonical order, each with what it holds. [`Event::finish`] builds
/// the same members as a value; a test compares the two forms for every class.
const ENVELOPE: [(&str, Part); 24] = [
    ("action", |e| Some(Field::Str(e.ids.action.1))),
    ("action_id", |e| Some(Field::Number(e.ids.action.0.into()))),
    ("activity_id", |e| {
        Some(Field::Number(e.ids.activity.0.into()))
    }),
    ("activity_name", |e| Some(Field::Str(e.ids.activity.1))),
    ("actor", |e| Some(Field::Written(&e.source.actor))),
    ("category_name", |e| Some(Field::Str(e.ids.category.1))),
    ("category_uid", |e| {
        Some(Field::Number(e.ids.category.0.into()))
    }),
    ("class_name", |e| Some(Field::Str(e.ids.class.name()))),
    ("class_uid", |e| {
        Some(Field::Number(e.ids.class.uid().into()))
    }),
    ("device", |e| Some(Field::Written(&e.source.device))),
    ("disposition", |e| Some(Field::Str(e.ids.disposition.1))),
    ("disposition_id", |e| {
        Some(Field::Number(e.ids.disposition.0.into()))
    }),
    ("message", |e| e.event.message.as_deref().map(Field::Str)),
    ("metadata", |e| Some(Field::Written(&e.source.metadata))),
    ("policy", |e| e.source.policy.as_ref().map(Field::Written)),
    ("severity", |e| Some(Field::Str(e.ids.severity.1))),
    ("severity_id", |e| {
        Some(Field::Number(e.ids.severity.0.into()))
    }),
    ("status", |e| Some(Field::Str(e.ids.status.1))),
    ("status_detail", |e| {
        e.event.failure.as_deref().map(Field::Str)
    }),
    ("status_id", |e| Some(Field::Number(e.ids.status.0.into()))),
    ("time", |e| Some(Field::Signed(e.event.time_ms))),
    ("type_name", |e| {
        Some(Field::Concat([
            e.ids.class.name(),
            ": ",
            e.ids.type_activity,
        ]))
    }),
    ("type_uid", |e| Some(Field::Number(e.ids.type_uid))),
    ("unmapped", |_| Some(Field::Unmapped)),
];

/// The envelope of `envelope`'s shape: each run of fixed members written as it will stay (an
/// absent one left out), the event's own members as they are.
fn render(envelope: &Envelope<'_>) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut run = RunWriter::default();
    for (name, part) in ENVELOPE {
        if OWN.contains(&name) {
            std::mem::take(&mut run).end(&mut pieces);
            pieces.push(Piece::Own(name, part));
        } else if let Some(field) = part(envelope) {
            // After `{`, and after the comma a later member is written with.
            let start = run.object.len() - 1 + usize::from(!run.members.is_empty());
            run.starts.push(start);
            run.members.push((name, part));
            envelope.write(&mut run.object, name, field);
        }
    }
    run.end(&mut pieces);
    pieces
}

/// A [`Run`] being written.
#[derive(Default)]
struct RunWriter {
    members: Vec<(&'static str, Part)>,
    starts: Vec<usize>,
    object: Object,
}

impl RunWriter {
    fn end(self, pieces: &mut Vec<Piece>) {
        if self.members.is_empty() {
            return;
        }
        match self.object.into_members() {
            Some(bytes) => pieces.push(Piece::Fixed(Run {
                names: self.members.iter().map(|(name, _)| *name).collect(),
                starts: self.starts,
                bytes,
            })),
            // Names that are not canonical as they stand (the envelope's are): each member is
            // then written with the event, in place.
            None => pieces.extend(
                self.members
                    .into_iter()
                    .map(|(name, part)| Piece::Own(name, part)),
            ),
        }
    }
}

/// [`PROFILES`] in canonical form.
static PROFILES_CANONICAL: std::sync::LazyLock<Canonical> =
    std::sync::LazyLock::new(|| Canonical::of(&json!(PROFILES)));

/// A file as OCSF describes it: `path`, `name` (its last component) and `type_id`.
pub fn file(path: &str, directory: bool) -> Value {
    let name = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(path);
    let (type_id, kind) = if directory {
        (2, "Folder")
    } else {
        (1, "Regular File")
    };
    json!({"path": path, "name": name, "type_id": type_id, "type": kind})
}

/// A process that a decision is about: its command line, the program's name, and an id (`uid`:
/// OCSF wants one of `pid`, `uid`, `cpid`, and a process that was refused never had a pid).
pub fn process(cmd_line: &str, program: &str, uid: &str, pid: Option<u32>) -> Value {
    let name = program.rsplit('/').next().unwrap_or(program);
    let mut p = json!({"cmd_line": cmd_line, "name": name, "uid": uid});
    if let Some(obj) = p.as_object_mut() {
        if program.starts_with('/') {
            obj.insert("path".into(), program.into());
        }
        if let Some(pid) = pid {
            obj.insert("pid".into(), pid.into());
        }
    }
    p
}

/// An OCSF `http_headers` list from name/value pairs (the values already redacted; a value that
/// is not UTF-8 is read as `String::from_utf8_lossy` reads it), in canonical form (for
/// [`Object::canonical`]).
pub fn headers<'a, V: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (&'a str, V)>) -> Canonical {
    let pairs = pairs.into_iter();
    let mut out = Vec::with_capacity(64 * pairs.size_hint().0 + 2);
    out.push(b'[');
    for (i, (name, value)) in pairs.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // `name` before `value`: the canonical order.
        out.extend_from_slice(b"{\"name\":");
        crate::canonical::write_lossy(name.as_bytes(), &mut out);
        out.extend_from_slice(b",\"value\":");
        crate::canonical::write_lossy(value.as_ref(), &mut out);
        out.push(b'}');
    }
    out.push(b']');
    Canonical::written(out)
}

#[cfg(any(test, feature = "schema"))]
pub mod schema;

#[cfg(test)]
mod tests;
