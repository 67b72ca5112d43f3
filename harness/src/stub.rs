//! A programmable HTTP stub server, for tests, benchmarks and demos of the load driver:
//!
//! - `GET /ok` answers 200 at once (the trivial endpoint of `make bench`);
//! - `/delay?ms=N` answers 200 after N ms;
//! - `/status?code=N` answers status N with `{"error": "status_N"}`;
//! - `/pool-timeout` answers 503 `{"error": "pool_timeout", ...}` like target-app;
//! - `/hang` never answers;
//! - anything else is 404.
//!
//! [`Stub::stall`] holds every request that arrives (or is waiting) until the stall ends;
//! [`Stub::kill`] drops the listener and every connection, as a crashed server would.
//! [`blackhole`] accepts connections and never reads from them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Instant;

#[derive(Debug, Default)]
struct Control {
    stalled_until: Mutex<Option<Instant>>,
    requests: AtomicU64,
}

/// A running stub server; stopped when dropped.
#[derive(Debug)]
pub struct Stub {
    addr: SocketAddr,
    control: Arc<Control>,
    server: tokio::task::JoinHandle<()>,
}

impl Stub {
    /// Starts a stub on `listen` (port 0 picks a free port) on the current runtime.
    pub async fn start(listen: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let control = Arc::new(Control::default());
        let server = tokio::spawn(serve(listener, Arc::clone(&control)));
        Ok(Self {
            addr,
            control,
            server,
        })
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.control.requests.load(Ordering::Relaxed)
    }

    /// Holds every request until `length` from now.
    pub fn stall(&self, length: Duration) {
        *self.control.stalled_until.lock().expect("stall lock") = Some(Instant::now() + length);
    }

    /// Stops listening and drops every connection at once.
    pub fn kill(&self) {
        self.server.abort();
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, control: Arc<Control>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let control = Arc::clone(&control);
                connections.spawn(async move {
                    let service = service_fn(move |request| answer(request, Arc::clone(&control)));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next() => {}
        }
    }
}

fn query_number(request: &Request<Incoming>, key: &str) -> Option<u64> {
    request.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.parse().ok()).flatten()
    })
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

async fn answer(
    request: Request<Incoming>,
    control: Arc<Control>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    control.requests.fetch_add(1, Ordering::Relaxed);
    let stalled_until = *control.stalled_until.lock().expect("stall lock");
    if let Some(until) = stalled_until {
        tokio::time::sleep_until(until).await;
    }
    let response = match request.uri().path() {
        "/ok" => reply(StatusCode::OK, "ok"),
        "/delay" => {
            tokio::time::sleep(Duration::from_millis(
                query_number(&request, "ms").unwrap_or(0),
            ))
            .await;
            reply(StatusCode::OK, "ok")
        }
        "/status" => {
            let code = query_number(&request, "code")
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(500);
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut r = Response::new(Full::new(Bytes::from(format!(
                "{{\"error\": \"status_{code}\"}}"
            ))));
            *r.status_mut() = status;
            r
        }
        "/pool-timeout" => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error": "pool_timeout", "message": "pool timed out while waiting for an open connection"}"#,
        ),
        "/hang" => std::future::pending().await,
        _ => reply(StatusCode::NOT_FOUND, r#"{"error": "not_found"}"#),
    };
    Ok(response)
}

/// Accepts connections on a free port and never reads or answers; dropped with the handle.
pub async fn blackhole() -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    Ok((addr, handle))
}
