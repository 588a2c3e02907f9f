//! A measuring stick for `bench/proxy.sh`, not a proxy to run: the least an HTTP/1.1 forward
//! proxy built on the same parts as cordon's (tokio, hyper's server and client connections) costs
//! per request. It forwards absolute-form requests to the authority they name, over one kept-alive
//! upstream connection per client connection, and does nothing else: no grant, no address check,
//! no limits, no audit record. The difference between it and `cordon proxy` under the same load
//! is what cordon's own work per request costs (see docs/benchmarks.md, "Egress proxy").
//!
//! `cargo run --release -p cordon-proxy --example floor -- 127.0.0.1:PORT`
//!
//! `FLOOR_SPIN_NS=N` makes it spin for N nanoseconds of each request before forwarding it: a
//! stand-in for work of a known size, to see what a proxy's own user time costs on a machine
//! beyond itself (docs/benchmarks.md: on a small VM, waking the load generator and the upstream
//! server more often).

use std::sync::Arc;

use http::uri::PathAndQuery;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

type Upstream = Arc<Mutex<Option<SendRequest<Incoming>>>>;
type Spin = Option<std::time::Duration>;
type Failure = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Failure> {
    let listen = std::env::args()
        .nth(1)
        .ok_or("usage: floor 127.0.0.1:PORT")?;
    let spin: Spin = match std::env::var("FLOOR_SPIN_NS") {
        Ok(n) => Some(std::time::Duration::from_nanos(n.parse()?)),
        Err(_) => None,
    };
    // One thread, as `cordon proxy` serves by default (`--threads 1`).
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = TcpListener::bind(&listen).await?;
            loop {
                let (client, _) = listener.accept().await?;
                client.set_nodelay(true)?;
                tokio::spawn(serve(client, spin));
            }
        })
}

async fn serve(client: TcpStream, spin: Spin) {
    let upstream = Upstream::default();
    let service = hyper::service::service_fn(move |req| {
        if let Some(spin) = spin {
            let until = std::time::Instant::now() + spin;
            while std::time::Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        forward(req, Arc::clone(&upstream))
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(client), service)
        .await;
}

async fn forward(
    mut req: Request<Incoming>,
    upstream: Upstream,
) -> Result<Response<Incoming>, Failure> {
    let authority = req
        .uri()
        .authority()
        .ok_or("not an absolute-form request")?
        .to_string();
    let origin_form = req
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    *req.uri_mut() = origin_form.into();
    req.headers_mut().remove("proxy-connection");
    let mut sender = upstream.lock().await;
    if sender.as_ref().is_none_or(SendRequest::is_closed) {
        let stream = TcpStream::connect(&authority).await?;
        stream.set_nodelay(true)?;
        let (send, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        *sender = Some(send);
    }
    let Some(send) = sender.as_mut() else {
        return Err(StatusCode::BAD_GATEWAY.to_string().into());
    };
    send.ready().await?;
    Ok(send.send_request(req).await?)
}
