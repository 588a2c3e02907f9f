//! TLS inspection: the proxy ends the client's TLS with a leaf its CA mints for the CONNECT host,
//! decides each request inside on its method and full URL, and opens its own TLS to the upstream
//! server with full certificate verification (the system's roots, plus any the operator adds).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::CertificateDer;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::ca::{Authority, CaError};

/// What inspecting needs: the CA that mints leaves and the client side's verification.
#[derive(Debug)]
pub struct Inspection {
    authority: Authority,
    upstream: Arc<ClientConfig>,
}

/// Why inspection cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum InspectionError {
    /// The CA.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// No root certificate to verify upstream servers with.
    #[error("no root certificate to verify upstream servers with: {0}")]
    Roots(String),
    /// rustls refuses the configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS client configuration that verifies servers against the system's root certificates and
/// `extra_roots`, speaking HTTP/1.1: for upstream servers under inspection, and for Vault.
pub fn verifying_client(
    extra_roots: Vec<CertificateDer<'static>>,
) -> Result<Arc<ClientConfig>, InspectionError> {
    tls_client(extra_roots, None, &[b"http/1.1"])
}

/// A TLS client that verifies servers against the system's roots and `extra_roots`, presents
/// `identity` (a certificate chain and its key) when given, and offers `alpn`.
pub fn tls_client(
    extra_roots: Vec<CertificateDer<'static>>,
    identity: Option<(
        Vec<CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    )>,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, InspectionError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (_, _) = roots.add_parsable_certificates(native.certs);
    for cert in extra_roots {
        roots
            .add(cert)
            .map_err(|e| InspectionError::Roots(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(InspectionError::Roots(
            "the system has none and none were given".to_owned(),
        ));
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

impl Inspection {
    /// Inspect with `authority`, verifying upstream servers with `upstream` (see
    /// [`verifying_client`]).
    pub fn new(authority: Authority, upstream: Arc<ClientConfig>) -> Self {
        Self {
            authority,
            upstream,
        }
    }

    /// The client-side configuration: present a leaf for `host`, speak HTTP/1.1.
    pub(crate) fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, InspectionError> {
        let leaf = self.authority.leaf(host)?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Fixed(leaf)));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// The upstream-side configuration.
    pub(crate) fn client_config(&self) -> Arc<ClientConfig> {
        self.upstream.clone()
    }
}

/// One certificate whatever the client asks for: the ClientHello's name was already checked to
/// be the CONNECT host the leaf was minted for.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// A stream that first gives back bytes already read from it (the ClientHello the proxy
/// checked), then reads on.
pub(crate) struct Rewind<S> {
    first: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Rewind<S> {
    pub(crate) fn new(first: Vec<u8>, inner: S) -> Self {
        Self {
            first,
            at: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(rest) = this.first.get(this.at..)
            && !rest.is_empty()
        {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(rest.get(..n).unwrap_or_default());
            this.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
