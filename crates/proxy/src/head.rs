//! What a request head asks of a forward proxy: where to (the request target), and which of its
//! headers travel on.
//!
//! A forward proxy takes two target forms (RFC 9112 §3.2): `CONNECT host:port` (authority form)
//! for a tunnel, and `http://host[:port]/path` (absolute form) for a plain HTTP request. Either is
//! turned into the URL the policy decision point decides on, parsed by the same URL parser the
//! manifest's scopes were, so `0x7f.1`, `%2e%2e` or an upper-case host cannot slip past a scope
//! by spelling. Everything else — origin-form requests sent as if to a server, `https://` in
//! absolute form, user information in the target — is refused with a reason.

use http::HeaderMap;
use http::header::{self, HeaderName};
use url::Url;

use cordon_policy::scope::{UrlError, parse_request_url};

/// The most header lines [`parse`] reads.
pub const MAX_HEADERS: usize = 100;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `CONNECT host:port`: a tunnel, decided as `https://host:port/`.
    Tunnel {
        /// The URL the decision is made on (`https`, the host, the port, path `/`).
        url: Url,
    },
    /// An absolute-form `http://` request.
    Forward {
        /// The request URL.
        url: Url,
    },
}

impl Target {
    /// The URL the policy decides on.
    pub fn url(&self) -> &Url {
        match self {
            Self::Tunnel { url } | Self::Forward { url } => url,
        }
    }

    /// The URL, to lend (to [`Gate::decide`](crate::gate::Gate::decide)).
    pub fn url_mut(&mut self) -> &mut Url {
        match self {
            Self::Tunnel { url } | Self::Forward { url } => url,
        }
    }
}

/// Why a request target is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// A path without a host: the client is talking to the proxy as if it were the server.
    #[error(
        "request target `{0}` has no host: this is a forward proxy, send absolute-form requests (set `http_proxy`)"
    )]
    OriginForm(String),
    /// `https://` in absolute form: the proxy does not open TLS on a client's behalf.
    #[error("request target `{0}` is https: use a CONNECT tunnel (set `https_proxy`)")]
    HttpsForward(String),
    /// A CONNECT target that is not `host:port`.
    #[error("CONNECT target `{0}` is not `host:port`")]
    Authority(String),
    /// The URL is not one the policy can decide on.
    #[error(transparent)]
    Url(#[from] UrlError),
}

/// Turn a request's method and target into where it goes.
pub fn target(method: &str, raw: &str) -> Result<Target, TargetError> {
    let shown = || raw.chars().take(200).collect::<String>();
    if method.eq_ignore_ascii_case("CONNECT") {
        // Authority form only: a host, a colon and a port; no user information or path.
        let port_given = raw.rsplit_once(':').is_some_and(|(h, p)| {
            !h.is_empty() && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
        });
        if !port_given
            || raw.contains(['@', '/', '?', '#', '\\'])
            || raw.contains(char::is_whitespace)
        {
            return Err(TargetError::Authority(shown()));
        }
        let url = parse_request_url(&format!("https://{raw}/"))?;
        return Ok(Target::Tunnel { url });
    }
    if raw.starts_with('/') || raw == "*" {
        return Err(TargetError::OriginForm(shown()));
    }
    let url = parse_request_url(raw)?;
    match url.scheme() {
        "http" => Ok(Target::Forward { url }),
        _ => Err(TargetError::HttpsForward(shown())),
    }
}

/// The authority of the last absolute-form target on a connection, parsed: a client on a
/// keep-alive connection sends most of its requests to one host, and parsing the host (IDNA
/// processing, the IPv4 spellings) is most of what parsing a target costs.
#[derive(Debug, Clone, Default)]
pub struct LastAuthority(Option<(String, Url)>);

impl LastAuthority {
    /// A fresh connection's: nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }
}

/// [`target`], reusing the parsed authority of the connection's previous request when an
/// absolute-form `raw` names the same one. The URL is the one [`target`] gives (a property
/// test holds them equal): the path is parsed against the cached authority only when it starts
/// with one `/` and holds nothing but printable ASCII other than `\`, so no tab or newline that
/// the URL parser removes can turn it into another authority (`/\t/host`).
pub fn target_on(method: &str, raw: &str, last: &mut LastAuthority) -> Result<Target, TargetError> {
    if let Some((prefix, base)) = &last.0
        && !method.eq_ignore_ascii_case("CONNECT")
        && let Some(rest) = raw.strip_prefix(prefix.as_str())
        && plain_path(rest)
        && let Ok(url) = base.join(rest)
    {
        return Ok(Target::Forward { url });
    }
    let found = target(method, raw)?;
    if let Target::Forward { url } = &found {
        // The URL just parsed, down to its scheme and authority: the base later paths join.
        last.0 = authority_of(raw).map(|prefix| {
            let mut base = url.clone();
            base.set_path("/");
            base.set_query(None);
            base.set_fragment(None);
            (prefix.to_owned(), base)
        });
    }
    Ok(found)
}

/// `http://authority` at the start of `raw`: up to the first `/`, `\`, `?` or `#` after the
/// scheme, when it is all printable ASCII with no `@`.
fn authority_of(raw: &str) -> Option<&str> {
    let after = raw.strip_prefix("http://")?;
    let end = after.find(['/', '\\', '?', '#']).unwrap_or(after.len());
    let authority = after.get(..end)?;
    (!authority.is_empty() && authority.bytes().all(|b| b.is_ascii_graphic() && b != b'@'))
        .then(|| raw.get(..7 + end))
        .flatten()
}

/// A path (with query) that parses against an authority as it does after it: one leading `/`
/// not followed by `/` or `\`, and only printable ASCII other than `\`.
fn plain_path(rest: &str) -> bool {
    let bytes = rest.as_bytes();
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && bytes.iter().all(|&b| b.is_ascii_graphic() && b != b'\\')
}

/// Headers that describe one connection, not the request (RFC 9110 §7.6.1), and the proxy's
/// own: never passed on in either direction.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// `uri` as its `Display` writes it, put together from its parts rather than through the
/// formatting machinery (once per request).
pub fn uri_text(uri: &http::Uri) -> String {
    let (scheme, authority, path, query) =
        (uri.scheme_str(), uri.authority(), uri.path(), uri.query());
    let mut out = String::with_capacity(
        scheme.map_or(0, |s| s.len() + 3)
            + authority.map_or(0, |a| a.as_str().len())
            + path.len()
            + query.map_or(0, |q| q.len() + 1),
    );
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
    }
    if let Some(authority) = authority {
        out.push_str(authority.as_str());
    }
    out.push_str(path);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Where `name` is in [`HOP_BY_HOP`]: one branch on its length and one comparison, where
/// comparing it with each entry cost more than the rest of the stripping.
fn hop_by_hop(name: &str) -> Option<usize> {
    Some(match name {
        "connection" => 0,
        "proxy-connection" => 1,
        "keep-alive" => 2,
        "proxy-authenticate" => 3,
        "proxy-authorization" => 4,
        "te" => 5,
        "trailer" => 6,
        "transfer-encoding" => 7,
        "upgrade" => 8,
        _ => return None,
    })
}

/// Remove hop-by-hop headers, including every header the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most heads have none, or only `Connection`: find the ones present by comparing names, and
    // remove only those (a removal hashes its name).
    let mut present = [false; HOP_BY_HOP.len()];
    for name in headers.keys() {
        if let Some(seen) = hop_by_hop(name.as_str()).and_then(|i| present.get_mut(i)) {
            *seen = true;
        }
    }
    if !present.contains(&true) {
        return;
    }
    // What `Connection` names goes too; names that are hop-by-hop already (`keep-alive`, most
    // often) need no header name of their own.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|token| {
            !HOP_BY_HOP
                .iter()
                .any(|h| token.eq_ignore_ascii_case(h.as_str()))
        })
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for (name, _) in HOP_BY_HOP.iter().zip(present).filter(|&(_, seen)| seen) {
        headers.remove(name);
    }
}

/// A request head, as [`parse`] reads it.
#[derive(Debug, Clone)]
pub struct Head {
    /// The method.
    pub method: String,
    /// Where the request goes.
    pub target: Target,
    /// The headers that travel on.
    pub headers: HeaderMap,
}

/// Why a request head is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The bytes are not an HTTP/1.x request head.
    #[error("malformed request head: {0}")]
    Syntax(String),
    /// The head did not end within the bytes given.
    #[error("request head is incomplete")]
    Incomplete,
    /// A header name or value is not acceptable.
    #[error("header `{0}` is malformed")]
    Header(String),
    /// The target is refused.
    #[error(transparent)]
    Target(#[from] TargetError),
}

/// Parse a whole request head (request line, headers and the empty line) with `httparse`, the
/// parser `hyper` uses, and read it as the proxy does: the target, then the headers with the
/// hop-by-hop ones removed. The proxy's server gets its heads from `hyper` and calls [`target`]
/// and [`strip_hop_by_hop`] itself; this function is how tests and the fuzz target reach the
/// same code from raw bytes.
pub fn parse(bytes: &[u8]) -> Result<Head, HeadError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    match req.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HeadError::Incomplete),
        Err(e) => return Err(HeadError::Syntax(e.to_string())),
    }
    let (Some(method), Some(path)) = (req.method, req.path) else {
        return Err(HeadError::Incomplete);
    };
    let target = target(method, path)?;
    let mut headers = HeaderMap::new();
    for h in req.headers.iter() {
        let shown = || h.name.chars().take(100).collect::<String>();
        let name =
            HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| HeadError::Header(shown()))?;
        let value =
            http::HeaderValue::from_bytes(h.value).map_err(|_| HeadError::Header(shown()))?;
        headers.append(name, value);
    }
    strip_hop_by_hop(&mut headers);
    Ok(Head {
        method: method.to_owned(),
        target,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn url(method: &str, raw: &str) -> Result<String, TargetError> {
        target(method, raw).map(|t| t.url().to_string())
    }

    /// Authorities and paths of absolute-form targets, with the bytes the URL parser treats
    /// specially: `\\` (a `/` in http), tabs and newlines (removed), `%`, dot segments, `@`,
    /// `?`, `#`, spaces, upper case and the spellings of IPv4 addresses.
    fn targets() -> impl Strategy<Value = Vec<String>> {
        // Few authorities, so that one connection's requests often share theirs.
        let authority = prop_oneof![
            8 => prop::sample::select(vec!["example.com", "127.0.0.1:9"]),
            1 => prop::sample::select(vec![
                "EXAMPLE.com",
                "example.com:80",
                "0x7f.1:9",
                "[::1]:8080",
                "exa%6Dple.com",
                "user@example.com",
                "example.com.",
                "ex\tample.com",
            ]),
        ];
        // Whole pieces of the spellings that matter (a slash, a removed byte, a slash: an
        // authority if it were parsed on its own), a host-like word, and single odd bytes.
        let path = prop::collection::vec(
            prop::sample::select(vec![
                "/", "//", "/\t/", "/\n/", "/\\", "\\", "\t", "evil", "..", "%2e", "%2F", "?", "#",
                "@", " ", "x:y", "B", "\r", "\u{1}",
            ]),
            0..6,
        )
        .prop_map(|parts| parts.concat());
        prop::collection::vec((authority, path), 1..8).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(a, p)| format!("http://{a}{p}"))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Requests on one connection get the URL `target` gives each on its own, whether the
        /// connection's previous authority is reused or not.
        #[test]
        fn a_connections_last_authority_changes_no_url(
            raws in targets(),
            methods in prop::collection::vec(prop::sample::select(vec!["GET", "POST", "CONNECT", "connect"]), 8),
        ) {
            let mut last = LastAuthority::new();
            for (raw, method) in raws.iter().zip(methods.iter().cycle()) {
                let alone = target(method, raw);
                let on = target_on(method, raw, &mut last);
                prop_assert_eq!(on, alone, "{} {:?}", method, raw);
            }
        }
    }

    #[test]
    fn the_last_authority_is_reused_only_for_plain_paths() {
        let mut last = LastAuthority::new();
        let on = |raw: &str, last: &mut LastAuthority| {
            target_on("GET", raw, last).map(|t| t.url().to_string())
        };
        assert_eq!(
            on("http://example.com/a", &mut last).unwrap(),
            "http://example.com/a"
        );
        assert!(last.0.is_some());
        assert_eq!(
            on("http://example.com/b?q=1", &mut last).unwrap(),
            "http://example.com/b?q=1"
        );
        // A tab the parser removes would have made `//evil` an authority.
        assert_eq!(
            on("http://example.com/\t/evil/x", &mut last).unwrap(),
            "http://example.com//evil/x"
        );
        assert_eq!(
            on("http://example.com/\\evil/x", &mut last).unwrap(),
            "http://example.com//evil/x"
        );
        assert!(on("http://user@example.com/x", &mut last).is_err());
    }

    #[test]
    fn connect_targets_become_https_urls() {
        assert_eq!(
            url("CONNECT", "API.example.com:443").unwrap(),
            "https://api.example.com/"
        );
        assert_eq!(
            url("CONNECT", "example.com:8443").unwrap(),
            "https://example.com:8443/"
        );
        assert_eq!(url("CONNECT", "[::1]:443").unwrap(), "https://[::1]/");
        // IPv4 in any spelling is the address it means.
        assert_eq!(url("CONNECT", "0x7f.1:443").unwrap(), "https://127.0.0.1/");
        assert_eq!(
            url("CONNECT", "2130706433:443").unwrap(),
            "https://127.0.0.1/"
        );
        for bad in [
            "example.com",
            "example.com:",
            ":443",
            "user@example.com:443",
            "example.com:443/x",
            "a b:443",
            "example.com:http",
        ] {
            assert!(
                matches!(target("CONNECT", bad), Err(TargetError::Authority(_))),
                "{bad}"
            );
        }
        assert!(target("CONNECT", "exa%mple.com:443").is_err());
        assert!(target("CONNECT", "example.com:70000").is_err());
    }

    #[test]
    fn forward_targets_are_absolute_http() {
        assert_eq!(
            url("GET", "http://Example.COM/a/../b?q=1").unwrap(),
            "http://example.com/b?q=1"
        );
        assert!(matches!(
            target("GET", "/index.html"),
            Err(TargetError::OriginForm(_))
        ));
        assert!(matches!(
            target("OPTIONS", "*"),
            Err(TargetError::OriginForm(_))
        ));
        assert!(matches!(
            target("GET", "https://example.com/"),
            Err(TargetError::HttpsForward(_))
        ));
        assert!(matches!(
            target("GET", "http://user:pw@example.com/"),
            Err(TargetError::Url(UrlError::Credentials))
        ));
        assert!(matches!(
            target("GET", "ftp://example.com/"),
            Err(TargetError::Url(UrlError::Scheme(_)))
        ));
    }

    #[test]
    fn hop_by_hop_names_are_found_where_the_list_has_them() {
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_by_hop(name.as_str()), Some(i), "{name}");
        }
        for name in ["host", "connectio", "x-connection", "tee", "upgrades", ""] {
            assert_eq!(hop_by_hop(name), None, "{name}");
        }
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let head = parse(
            b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, X-Secret-Hop\r\n\
              X-Secret-Hop: 1\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\n\
              Accept: */*\r\n\r\n",
        )
        .unwrap();
        let names: Vec<&str> = head.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["host", "accept"]);
        assert_eq!(head.method, "GET");
    }

    #[test]
    fn malformed_heads_are_errors() {
        assert_eq!(
            parse(b"GET http://example.com/ HTTP/1.1\r\n").unwrap_err(),
            HeadError::Incomplete
        );
        assert!(matches!(
            parse(b"GET http://example.com/ HTTP/1.1\r\nBad Header: x\r\n\r\n"),
            Err(HeadError::Syntax(_))
        ));
        assert!(matches!(
            parse(b"\x00\x01\r\n\r\n"),
            Err(HeadError::Syntax(_))
        ));
    }

    /// Each header with its values in order, by name (a removal may move the others).
    fn by_name(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
        let mut pairs: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs
    }

    /// What [`strip_hop_by_hop`] must leave: every header but the hop-by-hop ones and those a
    /// `Connection` header names (case-insensitively), each with all its values in order.
    fn without_hop_by_hop(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
        let named: Vec<String> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        by_name(headers)
            .into_iter()
            .filter(|(k, _)| {
                !HOP_BY_HOP.iter().any(|h| h.as_str() == k) && !named.iter().any(|n| n == k)
            })
            .collect()
    }

    proptest! {
        /// Whatever the mix of hop-by-hop headers, headers `Connection` names and others.
        #[test]
        fn uris_are_written_as_display_writes_them(
            scheme in proptest::option::of("https?"),
            host in "[a-z0-9.-]{1,12}",
            port in proptest::option::of(proptest::prelude::any::<u16>()),
            path in "(/[a-zA-Z0-9%._~-]{0,6}){0,3}",
            query in proptest::option::of("[a-zA-Z0-9=&%-]{0,10}"),
            form in 0u8..3,
        ) {
            let authority = match port {
                Some(p) => format!("{host}:{p}"),
                None => host.clone(),
            };
            let text = match (form, &scheme) {
                // Absolute form, authority form (CONNECT) and origin form.
                (0, Some(s)) => format!("{s}://{authority}{path}"),
                (1, _) => authority,
                _ => format!("/{path}"),
            };
            let text = match &query {
                Some(q) if form != 1 => format!("{text}?{q}"),
                _ => text,
            };
            let uri = text.parse::<http::Uri>();
            proptest::prop_assert!(uri.is_ok(), "{text}");
            if let Ok(uri) = uri {
                proptest::prop_assert_eq!(uri_text(&uri), uri.to_string());
            }
        }

        #[test]
        fn hop_by_hop_headers_go_and_nothing_else(
            pairs in prop::collection::vec((0usize..12, 0usize..12, 0usize..12), 0..10),
        ) {
            let names = [
                "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
                "proxy-authorization", "x-hop", "accept", "host", "X-Hop", "close",
            ];
            let mut headers = HeaderMap::new();
            for (n, a, b) in pairs {
                let name = HeaderName::from_bytes(names[n].as_bytes()).unwrap();
                // A `Connection` value names up to two others; other values are opaque.
                let value = format!("{}, {}", names[a], names[b]);
                headers.append(name, value.parse().unwrap());
            }
            let expected = without_hop_by_hop(&headers);
            strip_hop_by_hop(&mut headers);
            prop_assert_eq!(by_name(&headers), expected);
        }

        #[test]
        fn any_bytes_give_an_answer(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(&bytes);
        }

        /// A CONNECT target and the URL it becomes name the same host and port.
        #[test]
        fn tunnels_keep_host_and_port(
            // `xn--` starts a punycode label, which must then decode.
            host in "[a-z][a-z0-9-]{0,15}(\\.[a-z]{2,6}){1,2}".prop_filter("not punycode", |h| !h.contains("xn--")),
            port in 1u16..,
        ) {
            let t = target("CONNECT", &format!("{host}:{port}")).unwrap();
            prop_assert_eq!(t.url().host_str(), Some(host.as_str()));
            prop_assert_eq!(t.url().port_or_known_default(), Some(port));
        }
    }
}
