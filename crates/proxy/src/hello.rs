//! The server name a TLS client asks for, read from its ClientHello (RFC 8446 §4.1.2, record
//! layer §5.1, `server_name` RFC 6066 §3) before a single byte of the tunnel goes upstream.
//!
//! The parser works on the bytes a client has sent so far: it says it needs more until the whole
//! ClientHello has arrived (reassembled across records, as a client may fragment it), and then
//! answers with the name and whether the hello asks for Encrypted Client Hello, which would hide
//! the real name behind a public one. Anything that is not a well-formed ClientHello is an error
//! naming what is wrong; nothing here panics or reads past what it was given.

/// The most handshake bytes a ClientHello may span. Real ones are under 2 KiB (a post-quantum key
/// share included); the limit bounds what the proxy buffers for a client that never finishes.
pub const MAX_HELLO: usize = 32 << 10;

/// TLS record header bytes.
const RECORD_HEADER: usize = 5;
/// The largest record fragment TLS allows (2^14).
const MAX_FRAGMENT: usize = 1 << 14;
const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const EXT_SERVER_NAME: u16 = 0;
const EXT_ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;
const NAME_TYPE_HOST: u8 = 0;

/// What a complete ClientHello says about its destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The `server_name` host name, lowercased; `None` when the client sent none.
    pub server_name: Option<String>,
    /// Whether the hello carries an `encrypted_client_hello` extension.
    pub ech: bool,
}

/// Where parsing stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The ClientHello is not complete yet: read more and parse again.
    NeedMore,
    /// The whole ClientHello arrived.
    Complete(Hello),
}

/// Why the bytes are not a ClientHello the proxy accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// The first bytes are not a TLS handshake record.
    #[error("not a TLS handshake (record type {0}); only TLS may pass through a tunnel")]
    NotTls(u8),
    /// A record header is malformed.
    #[error("malformed TLS record: {0}")]
    Record(&'static str),
    /// The handshake message is not a ClientHello.
    #[error("the first handshake message is type {0}, not a ClientHello")]
    NotClientHello(u8),
    /// The ClientHello is larger than [`MAX_HELLO`].
    #[error("ClientHello of {0} bytes is larger than the {MAX_HELLO}-byte limit")]
    TooLarge(usize),
    /// A field of the ClientHello is malformed.
    #[error("malformed ClientHello: {0}")]
    Malformed(&'static str),
}

/// Parse the ClientHello at the start of `buf` (everything the client has sent so far).
pub fn parse(buf: &[u8]) -> Result<Parsed, HelloError> {
    // Gather handshake bytes from consecutive handshake records until the message is whole.
    let mut handshake: Vec<u8> = Vec::new();
    let mut rest = buf;
    loop {
        let Some((header, after)) = rest.split_first_chunk::<RECORD_HEADER>() else {
            return Ok(Parsed::NeedMore);
        };
        let [kind, major, _minor, len_hi, len_lo] = *header;
        if kind != CONTENT_HANDSHAKE {
            return Err(if handshake.is_empty() {
                HelloError::NotTls(kind)
            } else {
                HelloError::Record("a non-handshake record interrupts the ClientHello")
            });
        }
        if major != 3 {
            return Err(HelloError::Record("record version is not TLS"));
        }
        let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        if len == 0 {
            return Err(HelloError::Record("empty handshake record"));
        }
        if len > MAX_FRAGMENT {
            return Err(HelloError::Record("record longer than 2^14 bytes"));
        }
        let Some(fragment) = after.get(..len) else {
            // Part of this record has arrived; its bytes may already hold the message header.
            handshake.extend_from_slice(after);
            check_header(&handshake)?;
            return Ok(Parsed::NeedMore);
        };
        handshake.extend_from_slice(fragment);
        rest = after.get(len..).unwrap_or_default();
        if let Some(total) = check_header(&handshake)?
            && handshake.len() >= total
        {
            let body = handshake.get(4..total).unwrap_or_default();
            return client_hello(body).map(Parsed::Complete);
        }
    }
}

/// The message's full length (header included) once its header has arrived, after checking that
/// it starts a ClientHello of an acceptable size.
fn check_header(handshake: &[u8]) -> Result<Option<usize>, HelloError> {
    let Some(&kind) = handshake.first() else {
        return Ok(None);
    };
    if kind != HANDSHAKE_CLIENT_HELLO {
        return Err(HelloError::NotClientHello(kind));
    }
    let Some(&[_, a, b, c]) = handshake.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
    if len > MAX_HELLO {
        return Err(HelloError::TooLarge(len));
    }
    Ok(Some(len + 4))
}

/// A reader over a byte slice that fails, rather than panics, past its end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], HelloError> {
        if n > self.0.len() {
            return Err(HelloError::Malformed(what));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, HelloError> {
        Ok(self.take(1, what)?.first().copied().unwrap_or_default())
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, HelloError> {
        match *self.take(2, what)? {
            [a, b] => Ok(u16::from_be_bytes([a, b])),
            _ => Err(HelloError::Malformed(what)),
        }
    }

    /// A vector with a one-byte length prefix.
    fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], HelloError> {
        let n = self.u8(what)?;
        self.take(usize::from(n), what)
    }

    /// A vector with a two-byte length prefix.
    fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], HelloError> {
        let n = self.u16(what)?;
        self.take(usize::from(n), what)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn client_hello(body: &[u8]) -> Result<Hello, HelloError> {
    let mut r = Reader(body);
    let version = r.u16("no legacy_version")?;
    if version >> 8 != 3 {
        return Err(HelloError::Malformed("legacy_version is not TLS"));
    }
    r.take(32, "random is cut short")?;
    let session = r.vec8("legacy_session_id is cut short")?;
    if session.len() > 32 {
        return Err(HelloError::Malformed(
            "legacy_session_id is longer than 32 bytes",
        ));
    }
    let suites = r.vec16("cipher_suites is cut short")?;
    if suites.is_empty() || suites.len() % 2 != 0 {
        return Err(HelloError::Malformed(
            "cipher_suites is empty or of odd length",
        ));
    }
    let compression = r.vec8("legacy_compression_methods is cut short")?;
    if compression.is_empty() {
        return Err(HelloError::Malformed("legacy_compression_methods is empty"));
    }
    let mut hello = Hello {
        server_name: None,
        ech: false,
    };
    // A hello without extensions is legal before TLS 1.3 (and names no server).
    if r.is_empty() {
        return Ok(hello);
    }
    let mut exts = Reader(r.vec16("extensions are cut short")?);
    if !r.is_empty() {
        return Err(HelloError::Malformed("bytes after the extensions"));
    }
    let mut seen: Vec<u16> = Vec::new();
    while !exts.is_empty() {
        let kind = exts.u16("extension type is cut short")?;
        let data = exts.vec16("extension data is cut short")?;
        if seen.contains(&kind) {
            return Err(HelloError::Malformed("an extension appears twice"));
        }
        seen.push(kind);
        match kind {
            EXT_SERVER_NAME => hello.server_name = server_name(data)?,
            EXT_ENCRYPTED_CLIENT_HELLO => hello.ech = true,
            _ => {}
        }
    }
    Ok(hello)
}

/// The host name of a `server_name` extension (RFC 6066 §3: one name per type, no trailing
/// dot, ASCII).
fn server_name(data: &[u8]) -> Result<Option<String>, HelloError> {
    let mut r = Reader(data);
    let mut list = Reader(r.vec16("server_name list is cut short")?);
    if !r.is_empty() {
        return Err(HelloError::Malformed("bytes after the server_name list"));
    }
    let mut host = None;
    while !list.is_empty() {
        let kind = list.u8("server name type is cut short")?;
        let name = list.vec16("server name is cut short")?;
        if kind != NAME_TYPE_HOST {
            continue;
        }
        if host.is_some() {
            return Err(HelloError::Malformed("more than one host_name"));
        }
        let valid = !name.is_empty()
            && name
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            && !name.ends_with(b".");
        if !valid {
            return Err(HelloError::Malformed(
                "host_name is empty, not a DNS name or ends in a dot",
            ));
        }
        host = Some(String::from_utf8_lossy(name).to_ascii_lowercase());
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A ClientHello handshake message with these extensions (type, data).
    fn hello_message(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend([7u8; 32]);
        body.push(0);
        body.extend([0, 4, 0x13, 0x01, 0x13, 0x02]);
        body.extend([1, 0]);
        let mut exts = Vec::new();
        for (kind, data) in extensions {
            exts.extend(kind.to_be_bytes());
            exts.extend((data.len() as u16).to_be_bytes());
            exts.extend(data);
        }
        body.extend((exts.len() as u16).to_be_bytes());
        body.extend(exts);
        let mut msg = vec![1];
        msg.extend(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend(body);
        msg
    }

    fn sni(name: &[u8]) -> (u16, Vec<u8>) {
        let mut entry = vec![0];
        entry.extend((name.len() as u16).to_be_bytes());
        entry.extend(name);
        let mut data = (entry.len() as u16).to_be_bytes().to_vec();
        data.extend(entry);
        (0, data)
    }

    /// Records of at most `size` bytes carrying `msg`.
    fn records(msg: &[u8], size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for part in msg.chunks(size) {
            out.extend([22, 3, 1]);
            out.extend((part.len() as u16).to_be_bytes());
            out.extend(part);
        }
        out
    }

    #[test]
    fn reads_the_server_name() {
        let wire = records(
            &hello_message(&[(10, vec![0, 2, 0, 29]), sni(b"API.Example.com")]),
            1 << 14,
        );
        assert_eq!(
            parse(&wire),
            Ok(Parsed::Complete(Hello {
                server_name: Some("api.example.com".into()),
                ech: false
            }))
        );
    }

    #[test]
    fn a_hello_split_over_records_and_reads_needs_more_until_whole() {
        let wire = records(&hello_message(&[sni(b"example.com")]), 7);
        for cut in 0..wire.len() {
            assert_eq!(parse(&wire[..cut]), Ok(Parsed::NeedMore), "cut at {cut}");
        }
        assert!(
            matches!(parse(&wire), Ok(Parsed::Complete(h)) if h.server_name.as_deref() == Some("example.com"))
        );
    }

    #[test]
    fn no_server_name_and_ech_are_reported() {
        let wire = records(
            &hello_message(&[(EXT_ENCRYPTED_CLIENT_HELLO, vec![0; 8])]),
            1 << 14,
        );
        assert_eq!(
            parse(&wire),
            Ok(Parsed::Complete(Hello {
                server_name: None,
                ech: true
            }))
        );
    }

    #[test]
    fn refuses_what_is_not_a_client_hello() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(HelloError::NotTls(b'G')));
        assert_eq!(
            parse(&[22, 3, 3, 0, 4, 2, 0, 0, 0]),
            Err(HelloError::NotClientHello(2))
        );
        assert_eq!(
            parse(&[22, 3, 3, 0, 4, 1, 0xff, 0, 0]),
            Err(HelloError::TooLarge(0xff0000))
        );
        let twice = records(
            &hello_message(&[sni(b"a.example"), sni(b"b.example")]),
            1 << 14,
        );
        assert_eq!(
            parse(&twice),
            Err(HelloError::Malformed("an extension appears twice"))
        );
        let dotted = records(&hello_message(&[sni(b"example.com.")]), 1 << 14);
        assert!(matches!(parse(&dotted), Err(HelloError::Malformed(_))));
        let ip = records(&hello_message(&[sni(b"exa mple")]), 1 << 14);
        assert!(matches!(parse(&ip), Err(HelloError::Malformed(_))));
    }

    proptest! {
        /// Any bytes: an answer, never a panic; a prefix of a valid hello is never an error.
        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn every_fragmentation_gives_the_same_name(
            name in "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\\.[a-z]{2,8}){1,3}",
            size in 1usize..300,
            noise in prop::collection::vec((any::<u16>(), prop::collection::vec(any::<u8>(), 0..40)), 0..5),
        ) {
            let mut exts: Vec<(u16, Vec<u8>)> = Vec::new();
            for (kind, data) in noise {
                if kind != EXT_SERVER_NAME && kind != EXT_ENCRYPTED_CLIENT_HELLO && !exts.iter().any(|e| e.0 == kind) {
                    exts.push((kind, data));
                }
            }
            exts.push(sni(name.as_bytes()));
            let wire = records(&hello_message(&exts), size);
            for cut in [0, wire.len() / 3, wire.len() / 2, wire.len() - 1] {
                prop_assert_eq!(parse(&wire[..cut]), Ok(Parsed::NeedMore));
            }
            let parsed = parse(&wire);
            prop_assert_eq!(parsed, Ok(Parsed::Complete(Hello { server_name: Some(name), ech: false })));
        }
    }
}

#[cfg(test)]
mod real {
    use super::*;

    /// ClientHellos captured from curl 7.88 (TLS 1.3), openssl s_client (TLS 1.2) and Python's
    /// ssl module, kept as the fuzz target's seeds.
    #[test]
    fn real_client_hellos_name_their_server() {
        for (bytes, name) in [
            (
                &include_bytes!("../../../fuzz/corpus/client_hello/seed-curl")[..],
                "api.example.com",
            ),
            (
                &include_bytes!("../../../fuzz/corpus/client_hello/seed-openssl-tls12")[..],
                "upload.example.org",
            ),
            (
                &include_bytes!("../../../fuzz/corpus/client_hello/seed-python")[..],
                "python.example.net",
            ),
        ] {
            assert_eq!(
                parse(bytes),
                Ok(Parsed::Complete(Hello {
                    server_name: Some(name.to_owned()),
                    ech: false
                }))
            );
            for cut in 0..bytes.len() {
                assert_eq!(
                    parse(&bytes[..cut]),
                    Ok(Parsed::NeedMore),
                    "{name}: cut at {cut}"
                );
            }
        }
    }
}
