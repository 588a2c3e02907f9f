//! `cordon proxy`: the egress proxy, standalone, enforcing one verified manifest.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cordon_audit::canonical::{Canonical, Sealable};
use cordon_audit::ocsf::{self, Activity, Event as Ocsf};
use cordon_audit::store::Log;
use cordon_audit::writer::{Checkpoints, Config, Handle, Queued, Writer};

use cordon_dlp::action::Actions;
use cordon_dlp::scan::Scanner;
use cordon_policy::pdp::Principal;
use cordon_proxy::body::{BodyInspector, Oversized};
use cordon_proxy::ca::Authority;
use cordon_proxy::credential::Credentials;
use cordon_proxy::event::{Event, Sink};
use cordon_proxy::gate::Gate;
use cordon_proxy::inspect::Inspection;
use cordon_proxy::layout::EventWriter;
use cordon_proxy::resolve::Resolver;
use cordon_proxy::server::{Extras, Limits, Listener, Proxy};
use cordon_proxy::vault::Vault;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use super::manifest::Enforced;
use super::run::state_dir;
use crate::fail::{Fail, Outcome};
use crate::io;
use crate::trail::{self, KeySigner, Trail};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Its `networkScopes`, `apis` and `dlp` are what the proxy enforces.
    #[command(flatten)]
    signed: Enforced,
    /// Where to listen: `HOST:PORT` (port 0 picks a free one), `unix:PATH` for the socket
    /// `cordon run`'s sandbox bridge connects to, or `stdin` for a listening unix socket handed
    /// over on standard input (how `cordon run` starts its proxy).
    #[arg(long, default_value = "127.0.0.1:3128", value_name = "ADDR")]
    listen: String,
    /// Print nothing when listening starts.
    #[arg(long)]
    quiet: bool,
    /// Stop when the process that started the proxy ends (`cordon run` sets this).
    #[arg(long, hide = true)]
    stop_with_parent: bool,
    /// The state directory whose audit log (`audit/`) gets an OCSF event per request or tunnel
    /// (default: `$XDG_STATE_HOME/cordon`, or `~/.local/state/cordon`).
    #[arg(long)]
    state_dir: Option<String>,
    /// Also write each audit event to standard output, one JSON object per line.
    #[arg(long)]
    print_events: bool,
    /// What ties the events to others (`cordon run` passes its run id).
    #[arg(long, hide = true)]
    correlation: Option<String>,
    /// Sign audit checkpoints with this private key (`cordon keys generate`; the trust store
    /// lists its public half as `audit-signer`): every `--checkpoint-records` records or
    /// `--checkpoint-seconds`, and when the proxy stops. Keep it where agents cannot read it.
    #[arg(long, value_name = "FILE")]
    audit_key: Option<String>,
    /// Records between signed checkpoints at most.
    #[arg(
        long,
        default_value_t = 10_000,
        value_name = "N",
        requires = "audit_key"
    )]
    checkpoint_records: u64,
    /// Seconds between signed checkpoints at most, while events arrive.
    #[arg(long, default_value_t = 60, value_name = "S", requires = "audit_key")]
    checkpoint_seconds: u64,
    /// Inspect TLS with the CA in this directory (`ca.pem`, `ca.key`, made by `cordon ca init`),
    /// for tunnels whose grants need it: a manifest asking for content inspection, or grants that
    /// reach a host only at some paths or with some methods.
    #[arg(long, value_name = "DIR")]
    ca: Option<String>,
    /// Also trust this CA certificate (PEM) when verifying upstream servers under inspection
    /// and Vault, besides the system's roots (repeatable).
    #[arg(long, value_name = "FILE")]
    upstream_ca: Vec<String>,
    /// HashiCorp Vault for `apis` credentials that name a `vault` secret (KV v2); the token is
    /// read from `VAULT_TOKEN`, or from `--vault-token-file`.
    #[arg(long, value_name = "URL")]
    vault_addr: Option<String>,
    /// File holding the Vault token (instead of `VAULT_TOKEN`).
    #[arg(long, value_name = "FILE", requires = "vault_addr")]
    vault_token_file: Option<String>,
    /// Bytes of a request body held back and scanned when the manifest has a `dlp` section.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    inspect_bytes: usize,
    /// What happens to a body larger than `--inspect-bytes`: `block` (413) or `pass`
    /// (forwarded uninspected, and the event says so).
    #[arg(long, value_enum, default_value_t = OversizedBody::Block)]
    oversized_body: OversizedBody,
    /// Resolve NAME to these addresses instead of asking DNS, e.g. `api.internal=10.0.0.7`
    /// (repeatable). Pinned addresses are trusted as written: they may be private.
    #[arg(long = "resolve", value_name = "NAME=ADDR[,ADDR…]")]
    pins: Vec<String>,
    /// Connections served at once; more are answered `503` at once.
    #[arg(long, default_value_t = 512)]
    max_connections: usize,
    /// Largest request head, in bytes (at least 8192).
    #[arg(long, default_value_t = 16384)]
    max_header_bytes: usize,
    /// Seconds a client has to send a whole request head, or a tunnel's ClientHello.
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Seconds without traffic before a connection or tunnel is closed (checked four times per
    /// period, so it closes within a quarter more).
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,
    /// Seconds a connection or tunnel may last in all.
    #[arg(long, default_value_t = 3600)]
    total_timeout: u64,
    /// Seconds to resolve a name, and to connect to an upstream server.
    #[arg(long, default_value_t = 10)]
    connect_timeout: u64,
    /// Threads that serve connections. One serves one agent's traffic many times over (tens of
    /// thousands of requests a second) at the least cost per request; more let TLS handshakes
    /// and body scans of many connections run side by side, at a cost per request of their own
    /// (docs/benchmarks.md). The audit writer and DNS lookups have threads of their own anyway.
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=MAX_THREADS))]
    threads: u16,
}

/// The most threads `--threads` asks for.
const MAX_THREADS: i64 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OversizedBody {
    Block,
    Pass,
}

/// How long the audit writer waits for more events after one arrives (group commit: one
/// `write` and one `fsync` per batch). The proxy never waits for the disk, so this bounds how
/// long an event may wait to be durable; at tens of thousands of requests a second, 10 ms rather
/// than 2 ms took 7 % off the CPU time of a request (fewer `fsync`s, fewer wake-ups of the
/// writer), measured in docs/benchmarks.md.
const BATCH_WINDOW: Duration = Duration::from_millis(10);
/// Bytes of audit events that may wait for the disk before the proxy refuses new requests
/// (`audit_unavailable`) rather than let the queue grow: about 35,000 ordinary requests' events.
const AUDIT_BACKLOG: u64 = 64 << 20;

/// The proxy's events, as OCSF, into the hash-chained audit log through a group-commit writer
/// thread (the proxy's workers never wait for the disk), and to stdout when asked.
struct Chained {
    handle: Handle<Record>,
    events: Arc<EventWriter>,
    print: bool,
}

/// What the proxy queues for its audit log.
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every record is a request's event: boxing it would allocate per request"
)]
enum Record {
    /// An event in canonical form already: the proxy's start and stop, and every event when
    /// events are printed too.
    Written(Canonical),
    /// A request's event as the proxy saw it, written canonically (from its layout's template,
    /// `EventWriter::write`) by the writer thread straight into the batch it seals. A worker
    /// hands the event over and serves its next request; the events of a batch are then written
    /// one after another on one thread. That took about a microsecond off a proxied request on a
    /// core shared by both (docs/benchmarks.md).
    Request(Event, Arc<EventWriter>),
}

impl Sealable for Record {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        match self {
            Self::Written(event) => event.write_canonical(out),
            Self::Request(event, events) => events.write(event, out),
        }
    }
}

impl Queued for Record {
    fn weight(&self) -> u64 {
        match self {
            Self::Written(event) => event.weight(),
            Self::Request(event, _) => event.weight(),
        }
    }
}

impl Sink for Chained {
    fn record(&self, event: Event) {
        if self.print {
            // Written here, to be printed as it happens.
            let event = event.to_ocsf(self.events.source());
            let mut out = std::io::stdout().lock();
            let _ = out
                .write_all(event.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush());
            self.handle.queue(Record::Written(event));
            return;
        }
        self.handle
            .queue(Record::Request(event, Arc::clone(&self.events)));
    }

    fn healthy(&self) -> bool {
        self.handle.healthy()
    }
}

fn pins(raw: &[String]) -> Result<HashMap<String, Vec<IpAddr>>, Fail> {
    let mut out = HashMap::new();
    for entry in raw {
        let bad = || {
            Fail::input_msg(format!(
                "`--resolve {entry}`: write `NAME=ADDR[,ADDR…]`, e.g. `api.internal=10.0.0.7`"
            ))
        };
        let (name, addrs) = entry.split_once('=').ok_or_else(bad)?;
        let name = url::Host::parse(name)
            .ok()
            .and_then(|h| match h {
                url::Host::Domain(d) => Some(d),
                _ => None,
            })
            .ok_or_else(bad)?;
        let addrs: Vec<IpAddr> = addrs
            .split(',')
            .map(|a| a.trim().parse::<IpAddr>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        if addrs.is_empty() {
            return Err(bad());
        }
        out.insert(name, addrs);
    }
    Ok(out)
}

/// The roots upstream servers (and Vault) are verified with: the system's and `extra`.
fn verifying_client(extra: &[String]) -> Result<Arc<rustls::ClientConfig>, Fail> {
    let mut roots = Vec::new();
    for file in extra {
        let text = io::read(file).map_err(|e| Fail::input_msg(format!("{e:#}")))?;
        let certs: Vec<_> = CertificateDer::pem_slice_iter(&text)
            .collect::<Result<_, _>>()
            .map_err(|e| Fail::input_msg(format!("`{file}`: not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(Fail::input_msg(format!("`{file}` holds no certificate")));
        }
        roots.extend(certs);
    }
    cordon_proxy::inspect::verifying_client(roots).map_err(|e| Fail::input_msg(e.to_string()))
}

/// Load the inspection CA.
fn authority(dir: &str) -> Result<Authority, Fail> {
    let dir = Path::new(dir);
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|e| {
            Fail::input_msg(format!(
                "`{}`: {e} (make a CA with `cordon ca init --out {}`)",
                path.display(),
                dir.display()
            ))
        })
    };
    Authority::load(&read("ca.pem")?, &read("ca.key")?)
        .map_err(|e| Fail::input_msg(format!("`{}`: {e}", dir.display())))
}

/// The credentials of the manifest's `apis` entries: environment variables read now, files and
/// Vault secrets when first needed.
fn credentials(
    a: &Args,
    apis: &std::collections::BTreeMap<String, cordon_policy::manifest::ApiGrant>,
    tls: Option<&Arc<rustls::ClientConfig>>,
    timeout: Duration,
) -> Result<Option<Credentials>, Fail> {
    if apis.values().all(|g| g.credential.is_none()) {
        return Ok(None);
    }
    let env: HashMap<String, String> = Credentials::env_names(apis)
        .into_iter()
        .filter_map(|name| std::env::var(&name).ok().map(|v| (name, v)))
        .collect();
    let vault = match &a.vault_addr {
        Some(addr) => {
            let url = url::Url::parse(addr)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| {
                    Fail::input_msg(format!("`--vault-addr {addr}` is not an http(s) URL"))
                })?;
            let token = match &a.vault_token_file {
                Some(file) => io::read_text(file).map_err(|e| Fail::input_msg(format!("{e:#}")))?,
                None => std::env::var("VAULT_TOKEN").map_err(|_| {
                    Fail::input_msg("`--vault-addr` needs a token: set `VAULT_TOKEN` or give `--vault-token-file`")
                })?,
            };
            Some(Vault::new(
                url,
                token.trim().to_owned(),
                tls.cloned(),
                timeout,
            ))
        }
        None => None,
    };
    Credentials::new(apis, &env, vault)
        .map(Some)
        .map_err(|e| Fail::input_msg(format!("`{}`: {e}", a.signed.manifest)))
}

/// Bind the listener, replacing a unix socket no process listens on any more.
async fn bind(listen: &str) -> Result<(Listener, String), Fail> {
    if listen == "stdin" {
        use std::os::fd::AsFd as _;
        let not_socket = |e: std::io::Error| {
            Fail::input_msg(format!(
                "`--listen stdin`: standard input is not a listening unix socket ({e})"
            ))
        };
        let fd = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(not_socket)?;
        let l = std::os::unix::net::UnixListener::from(fd);
        let addr = l.local_addr().map_err(not_socket)?;
        l.set_nonblocking(true).map_err(not_socket)?;
        let l = tokio::net::UnixListener::from_std(l).map_err(not_socket)?;
        let shown = addr
            .as_pathname()
            .map_or_else(|| "stdin".to_owned(), |p| format!("unix:{}", p.display()));
        return Ok((Listener::Unix(l), shown));
    }
    if let Some(path) = listen.strip_prefix("unix:") {
        let path = Path::new(path);
        if path.exists() {
            match tokio::net::UnixStream::connect(path).await {
                Ok(_) => {
                    return Err(Fail::input_msg(format!(
                        "another process listens on `{}`",
                        path.display()
                    )));
                }
                Err(_) => {
                    std::fs::remove_file(path).map_err(|e| {
                        Fail::input_msg(format!("cannot remove stale `{}`: {e}", path.display()))
                    })?;
                }
            }
        }
        let l = tokio::net::UnixListener::bind(path)
            .map_err(|e| Fail::input_msg(format!("cannot listen on `{}`: {e}", path.display())))?;
        return Ok((Listener::Unix(l), format!("unix:{}", path.display())));
    }
    let l = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Fail::input_msg(format!("cannot listen on `{listen}`: {e}")))?;
    let shown = l
        .local_addr()
        .map_or_else(|_| listen.to_owned(), |a| a.to_string());
    Ok((Listener::Tcp(l), shown))
}

pub fn run(a: &Args) -> Outcome {
    let now = io::now_or(None)?;
    let (user, home) = io::current_user();
    let state = state_dir(a.state_dir.as_deref(), &home);
    let mut trail = Trail::new(&state, "proxy", &user)?;
    trail.subject.correlation = a.correlation.clone();
    let (verified, verify_event) = trail.verify(&a.signed, now)?;
    let pdp = a.signed.pdp(&verified, &user, &home)?;
    let gate = Gate::new(
        pdp,
        Principal {
            user: Some(user),
            groups: Vec::new(),
            device: None,
        },
    );
    let secs = Duration::from_secs;
    let limits = Limits {
        max_connections: a.max_connections.max(1),
        max_header_bytes: a.max_header_bytes,
        header_timeout: secs(a.header_timeout),
        idle_timeout: secs(a.idle_timeout),
        total_timeout: secs(a.total_timeout),
        connect_timeout: secs(a.connect_timeout),
        hello_timeout: secs(a.header_timeout),
    };
    let resolver = Resolver::new(pins(&a.pins)?, limits.connect_timeout);
    let bodies = match &verified.manifest.dlp {
        Some(d) => {
            let scanner = Scanner::builtin()
                .map_err(|e| Fail::check_msg(format!("the DLP rules do not compile: {e}")))?;
            let oversized = match a.oversized_body {
                OversizedBody::Block => Oversized::Block,
                OversizedBody::Pass => Oversized::Pass,
            };
            Some(BodyInspector::new(
                scanner,
                Actions::new(&d.block, &d.redact, &d.alert),
                a.inspect_bytes,
                oversized,
            ))
        }
        None => None,
    };
    // Root certificates cost milliseconds to load: only when TLS is opened upstream.
    let tls = if a.ca.is_some() || a.vault_addr.is_some() {
        Some(verifying_client(&a.upstream_ca)?)
    } else {
        None
    };
    let extras = Extras {
        inspection: match (&a.ca, &tls) {
            (Some(dir), Some(tls)) => Some(Inspection::new(authority(dir)?, tls.clone())),
            _ => None,
        },
        bodies,
        credentials: credentials(
            a,
            &verified.manifest.apis,
            tls.as_ref(),
            limits.connect_timeout,
        )?,
    };
    let lifecycle = |activity: Activity| {
        Ocsf::new(activity, trail::millis(time::OffsetDateTime::now_utc())).with(
            "app",
            serde_json::json!({"name": "cordon proxy", "version": trail::VERSION}),
        )
    };
    // The proxy `cordon run` starts is part of the run, whose events say when it began and
    // ended (and that the manifest verified): it records only its requests, and nothing of
    // its own on the launch path. A standalone proxy records its start and stop.
    let standalone = !a.stop_with_parent;
    if standalone {
        trail.record([verify_event, lifecycle(Activity::AppStart)])?;
    }
    let log = Log::open(trail.dir())
        .map_err(|e| Fail::check_msg(format!("cannot write the audit log: {e}")))?;
    let checkpoints = match &a.audit_key {
        Some(path) => Some(Checkpoints {
            signer: Box::new(KeySigner::load(path)?),
            every_records: a.checkpoint_records.max(1),
            every: Duration::from_secs(a.checkpoint_seconds.max(1)),
        }),
        None => None,
    };
    let (handle, writer) = Writer::start(
        log,
        Config {
            clock: Box::new(|| trail::stamp(time::OffsetDateTime::now_utc())),
            window: BATCH_WINDOW,
            max_backlog: AUDIT_BACKLOG,
            on_error: Box::new(|e| {
                eprintln!(
                    "cordon proxy: cannot write audit events: {e}; refusing requests until it can"
                );
            }),
            checkpoints,
        },
    );
    let sink = Arc::new(Chained {
        handle: handle.clone(),
        events: Arc::new(EventWriter::new(ocsf::Source::new(
            trail.subject.clone(),
            trail::VERSION,
        ))),
        print: a.print_events,
    });
    let runtime = runtime(a.threads)
        .map_err(|e| Fail::check_msg(format!("cannot start the proxy's runtime: {e}")))?;
    let agent = verified.manifest.agent_name.clone();
    let served = runtime.block_on(async {
        let (listener, shown) = bind(&a.listen).await?;
        let proxy = Arc::new(Proxy::new(gate, resolver, limits, sink, extras));
        if !a.quiet {
            eprintln!(
                "cordon proxy: listening on {shown} for agent `{agent}` (manifest {})",
                verified.digest
            );
        }
        let stop = async {
            tokio::select! {
                () = shutdown() => {}
                () = parent_gone(a.stop_with_parent) => {}
            }
        };
        proxy
            .serve(listener, stop)
            .await
            .map_err(|e| Fail::check_msg(format!("the proxy stopped: {e}")))?;
        Ok(0)
    });
    // Dropping the runtime drops the exchanges still open, which records their events; the stop
    // is recorded after everything else; then the writer drains the queue, signs a last
    // checkpoint over all of it, and ends.
    drop(runtime);
    if standalone {
        let stop = lifecycle(Activity::AppStop).finish(&trail.subject, trail::VERSION);
        handle.queue(Record::Written(Canonical::of(&stop)));
    }
    drop(handle);
    writer.finish();
    if !a.quiet {
        eprintln!("cordon proxy: stopped");
    }
    served
}

/// The runtime connections are served on: a single thread for one, without the work-stealing
/// scheduler's hand-offs between threads, which cost a single-threaded proxy 1.5 µs a request on
/// a core of its own and 3.8 µs on cores it shares (docs/benchmarks.md, session 22).
fn runtime(threads: u16) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if threads > 1 {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(usize::from(threads));
        builder
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    // Named for `top` and `ps -L`, blocking threads (DNS lookups) as well.
    builder.thread_name("cordon-proxy").enable_all().build()
}

/// Completes when the parent process has ended (the proxy is then a child of init or a
/// subreaper), when asked to watch for that; never otherwise.
async fn parent_gone(watch: bool) {
    if !watch {
        return std::future::pending().await;
    }
    let parent = std::os::unix::process::parent_id();
    while std::os::unix::process::parent_id() == parent {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        // Without signal handlers the default action (terminate) still stops the process.
        _ => std::future::pending().await,
    }
}
