//! Reading one field of a HashiCorp Vault KV version 2 secret: `GET /v1/<mount>/data/<path>`
//! with the `X-Vault-Token` header, answered with `{"data": {"data": {<field>: …}, "metadata":
//! …}}`. Only what the proxy's credential injection needs; the Vault address is the operator's
//! (it is not subject to the agent's grants).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use url::Url;

/// Most bytes of a Vault answer read.
const MAX_ANSWER: usize = 1 << 20;

/// A Vault server and the token to read with.
pub struct Vault {
    addr: Url,
    token: String,
    tls: Option<Arc<ClientConfig>>,
    timeout: Duration,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Vault")
            .field("addr", &self.addr.as_str())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// A Vault at `addr` (`http://` or `https://`, verified with `tls` roots), read with `token`.
    pub fn new(
        addr: Url,
        token: String,
        tls: Option<Arc<ClientConfig>>,
        timeout: Duration,
    ) -> Self {
        Self {
            addr,
            token,
            tls,
            timeout,
        }
    }

    /// The value of `field` in the KV v2 secret at `mount`/`path`. Errors name the secret's
    /// location and Vault's status, never a value.
    pub async fn read(&self, mount: &str, path: &str, field: &str) -> Result<String, String> {
        let at = format!("vault `{mount}/{path}`");
        let url = self
            .addr
            .join(&format!("v1/{mount}/data/{path}"))
            .map_err(|e| format!("{at}: {e}"))?;
        let answer = tokio::time::timeout(self.timeout, self.get(&url))
            .await
            .map_err(|_| format!("{at}: no answer within {:?}", self.timeout))??;
        let (status, body) = answer;
        if status != StatusCode::OK {
            return Err(format!("{at}: Vault answered {status}"));
        }
        let json: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("{at}: not a KV v2 answer: {e}"))?;
        match json.pointer("/data/data").and_then(|d| d.get(field)) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("{at}: field `{field}` is not a string")),
            None => Err(format!("{at}: no field `{field}`")),
        }
    }

    async fn get(&self, url: &Url) -> Result<(StatusCode, Bytes), String> {
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(8200);
        let tcp = TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port))
            .await
            .map_err(|e| format!("cannot connect to Vault at `{}`: {e}", self.addr))?;
        let request = Request::get(&url[url::Position::BeforePath..url::Position::AfterQuery])
            .header(
                http::header::HOST,
                &url[url::Position::BeforeHost..url::Position::AfterPort],
            )
            .header("x-vault-token", {
                let mut v = http::HeaderValue::from_str(&self.token)
                    .map_err(|_| "the Vault token is not a valid header value".to_owned())?;
                v.set_sensitive(true);
                v
            })
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = match (url.scheme(), &self.tls) {
            ("https", Some(tls)) => {
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| format!("`{host}`: {e}"))?;
                let stream = tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS with Vault at `{host}` failed: {e}"))?;
                send(TokioIo::new(stream), request).await?
            }
            ("https", None) => return Err("no TLS roots to verify Vault with".to_owned()),
            _ => send(TokioIo::new(tcp), request).await?,
        };
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("reading Vault's answer: {e}"))?
            .to_bytes();
        Ok((status, body))
    }
}

async fn send<S>(
    io: TokioIo<S>,
    request: Request<Empty<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP with Vault: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP with Vault: {e}"))
}
