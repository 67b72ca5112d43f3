//! A programmable HTTP stub server, for tests, benchmarks and demos of the load driver:
//!
//! - `GET /ok` answers 200 at once (the trivial endpoint of `make bench`);
//! - `/delay?ms=N` answers 200 after N ms;
//! - `/status?code=N` answers status N with `{"error": "status_N"}`;
//! - `/pool-timeout` answers 503 `{"error": "pool_timeout", ...}` like target-app;
//! - `/hang` never answers;
//! - `/metrics` answers Prometheus text: requests so far and requests in flight;
//! - `/reset` resets its HTTP/2 stream (on HTTP/1.1 it closes the connection);
//! - `/goaway` answers 200, then ends its connection gracefully (HTTP/2: GOAWAY);
//! - anything else is 404.
//!
//! It speaks HTTP/1.1, and with [`Options`] TLS (rustls; HTTP/2 or HTTP/1.1 by ALPN, a client
//! certificate required when a client CA is given) or h2c (HTTP/2 with prior knowledge).
//!
//! Hooks let tests act on events instead of sleeping: [`Stub::stall_after`] holds every
//! request that arrives from the Nth on until a while after the Nth came, [`Stub::answer_late`]
//! delays one request's answer, [`Stub::kill_after`] drops the listener and every connection
//! when the Nth request arrives, as a crashed server would, and [`Stub::requests_reached`]
//! waits until N requests have arrived, and [`Stub::record_arrivals`] notes when each arrives
//! by the wall clock. [`blackhole`] accepts connections and never reads
//! from them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::engine::driver::tls::{TlsError, fail};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Something the stub does when a request arrives.
#[derive(Debug, Clone, Copy)]
enum Hook {
    /// From the Nth request on, hold everything for this long.
    StallAfter { n: u64, length: Duration },
    /// Answer the Nth request this much later.
    AnswerLate { n: u64, delay: Duration },
    /// Die when the Nth request arrives.
    KillAfter { n: u64 },
}

#[derive(Debug)]
struct Control {
    stalled_until: Mutex<Option<Instant>>,
    hooks: Mutex<Vec<Hook>>,
    /// Requests received so far; watchers wake on every one.
    arrived: watch::Sender<u64>,
    first_request_at: Mutex<Option<Instant>>,
    stall_began_at: Mutex<Option<Instant>>,
    killed: CancellationToken,
    in_flight: std::sync::atomic::AtomicU64,
    /// When each request arrived, by the wall clock, once [`Stub::record_arrivals`] asks.
    arrivals: Mutex<Option<Vec<std::time::SystemTime>>>,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            stalled_until: Mutex::default(),
            hooks: Mutex::default(),
            arrived: watch::channel(0).0,
            first_request_at: Mutex::default(),
            stall_began_at: Mutex::default(),
            killed: CancellationToken::new(),
            in_flight: std::sync::atomic::AtomicU64::new(0),
            arrivals: Mutex::default(),
        }
    }
}

impl Control {
    /// Counts a request; returns its number (from 1) and how long to hold its answer.
    fn arrive(&self) -> (u64, Option<Instant>) {
        let mut n = 0;
        self.arrived.send_modify(|count| {
            *count += 1;
            n = *count;
        });
        if let Some(times) = self.arrivals.lock().expect("stub lock").as_mut() {
            times.push(std::time::SystemTime::now());
        }
        let now = Instant::now();
        if n == 1 {
            *self.first_request_at.lock().expect("stub lock") = Some(now);
        }
        let mut hold = *self.stalled_until.lock().expect("stub lock");
        for hook in self.hooks.lock().expect("stub lock").iter() {
            match *hook {
                Hook::StallAfter { n: at, length } if at == n => {
                    *self.stall_began_at.lock().expect("stub lock") = Some(now);
                    *self.stalled_until.lock().expect("stub lock") = Some(now + length);
                    hold = Some(now + length);
                }
                Hook::AnswerLate { n: at, delay } if at == n => {
                    hold = Some(hold.map_or(now + delay, |h| h.max(now + delay)));
                }
                Hook::KillAfter { n: at } if at == n => self.killed.cancel(),
                _ => {}
            }
        }
        (n, hold)
    }
}

/// A running stub server; stopped when dropped.
#[derive(Debug)]
pub struct Stub {
    addr: SocketAddr,
    control: Arc<Control>,
    server: tokio::task::JoinHandle<()>,
    scheme: &'static str,
}

/// How the stub speaks.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// TLS with this configuration (its ALPN list says which of h2 and http/1.1 it offers).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Plain TCP: HTTP/2 with prior knowledge instead of HTTP/1.1.
    pub h2c: bool,
}

/// A TLS configuration from PEM files: the certificate chain and key, and when `client_ca`
/// is given, a client certificate signed by it is required. ALPN offers `h2` then `http/1.1`.
/// An error's setting is the `poolstorm stub` flag it came from.
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
    client_ca: Option<&std::path::Path>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read_certs = |setting: &'static str, path: &std::path::Path| {
        CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|e| fail(setting, path.display().to_string(), e))
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| fail("--tls-cert", "the protocol versions", e))?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs("--client-ca", ca)? {
                roots
                    .add(c)
                    .map_err(|e| fail("--client-ca", ca.display().to_string(), e))?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|e| fail("--client-ca", ca.display().to_string(), e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| fail("--tls-key", key.display().to_string(), e))?;
    let mut config = builder
        .with_single_cert(read_certs("--tls-cert", cert)?, key)
        .map_err(|e| fail("--tls-cert", "the certificate and its key", e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl Stub {
    /// Starts a plain HTTP/1.1 stub on `listen` (port 0 picks a free port) on the current
    /// runtime.
    pub async fn start(listen: SocketAddr) -> std::io::Result<Self> {
        Self::start_with(listen, Options::default()).await
    }

    /// Starts a stub that speaks as `options` say.
    pub async fn start_with(listen: SocketAddr, options: Options) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let control = Arc::new(Control::default());
        let scheme = if options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let server = tokio::spawn(serve(listener, Arc::clone(&control), options));
        Ok(Self {
            addr,
            control,
            server,
            scheme,
        })
    }

    /// `http://ADDR` or `https://ADDR`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        *self.control.arrived.borrow()
    }

    /// Waits until `n` requests have arrived.
    pub async fn requests_reached(&self, n: u64) {
        let mut arrived = self.control.arrived.subscribe();
        let _ = arrived.wait_for(|count| *count >= n).await;
    }

    /// Holds every request that arrives from the `n`th on (1-based) until `length` after the
    /// `n`th came.
    pub fn stall_after(&self, n: u64, length: Duration) {
        self.hook(Hook::StallAfter { n, length });
    }

    /// Answers the `n`th request `delay` late.
    pub fn answer_late(&self, n: u64, delay: Duration) {
        self.hook(Hook::AnswerLate { n, delay });
    }

    /// Stops listening and drops every connection when the `n`th request arrives.
    pub fn kill_after(&self, n: u64) {
        self.hook(Hook::KillAfter { n });
    }

    /// When the first request arrived.
    pub fn first_request_at(&self) -> Option<Instant> {
        *self.control.first_request_at.lock().expect("stub lock")
    }

    /// From now on, notes the wall-clock time of each request's arrival.
    pub fn record_arrivals(&self) {
        *self.control.arrivals.lock().expect("stub lock") = Some(Vec::new());
    }

    /// The arrival times noted since [`Stub::record_arrivals`].
    pub fn arrivals(&self) -> Vec<std::time::SystemTime> {
        self.control
            .arrivals
            .lock()
            .expect("stub lock")
            .clone()
            .unwrap_or_default()
    }

    /// When a stall of [`Stub::stall_after`] began.
    pub fn stall_began_at(&self) -> Option<Instant> {
        *self.control.stall_began_at.lock().expect("stub lock")
    }

    fn hook(&self, hook: Hook) {
        self.control.hooks.lock().expect("stub lock").push(hook);
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, control: Arc<Control>, options: Options) {
    let mut connections = JoinSet::new();
    let killed = control.killed.clone();
    let acceptor = options.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    loop {
        tokio::select! {
            // Dropping the listener and the connections' tasks closes every socket at once.
            () = killed.cancelled() => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let control = Arc::clone(&control);
                let acceptor = acceptor.clone();
                let h2c = options.h2c;
                connections.spawn(async move {
                    match acceptor {
                        None => connection(stream, h2c, control).await,
                        Some(acceptor) => {
                            // A handshake that fails (a client without the certificate asked
                            // for, one that does not trust ours) just ends the connection.
                            let Ok(tls) = acceptor.accept(stream).await else { return };
                            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                            connection(tls, h2, control).await;
                        }
                    }
                });
            }
            Some(_) = connections.join_next() => {}
        }
    }
}

/// Serves one connection, HTTP/2 or HTTP/1.1; `/goaway` ends it gracefully.
async fn connection<S>(stream: S, h2: bool, control: Arc<Control>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let goaway = Arc::new(tokio::sync::Notify::new());
    let service = {
        let goaway = Arc::clone(&goaway);
        service_fn(move |request| answer(request, Arc::clone(&control), Arc::clone(&goaway)))
    };
    let io = TokioIo::new(stream);
    if h2 {
        let conn = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .serve_connection(io, service);
        tokio::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => return,
            () = goaway.notified() => conn.as_mut().graceful_shutdown(),
        }
        let _ = conn.await;
    } else {
        let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
        tokio::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => return,
            () = goaway.notified() => conn.as_mut().graceful_shutdown(),
        }
        let _ = conn.await;
    }
}

/// Why the stub refused to answer (`/reset`): hyper resets the stream.
#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reset on purpose")
    }
}

impl std::error::Error for Reset {}

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
    goaway: Arc<tokio::sync::Notify>,
) -> Result<Response<Full<Bytes>>, Reset> {
    let (_, hold) = control.arrive();
    control
        .in_flight
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _done = InFlightGuard(&control);
    if let Some(until) = hold {
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
        "/reset" => return Err(Reset),
        "/goaway" => {
            goaway.notify_one();
            reply(StatusCode::OK, "ok")
        }
        "/metrics" => {
            use std::sync::atomic::Ordering;
            let text = format!(
                "# TYPE stub_requests_total counter\nstub_requests_total {}\n\
                 # TYPE stub_in_flight gauge\nstub_in_flight {}\n",
                *control.arrived.borrow(),
                control.in_flight.load(Ordering::Relaxed)
            );
            Response::new(Full::new(Bytes::from(text)))
        }
        _ => reply(StatusCode::NOT_FOUND, r#"{"error": "not_found"}"#),
    };
    Ok(response)
}

/// Lowers the stub's in-flight gauge when a request is answered (or abandoned).
struct InFlightGuard<'a>(&'a Control);

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
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
