//! Opening a connection to the target: TCP to the address resolved before the run, then the
//! TLS handshake for `https://` (SNI and certificate checks from the URL's host), each timed.
//! What a new connection cost, and why one could not be opened, go to the recorder apart
//! from request latency.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::tls::{self, TlsError};
use crate::engine::load::{LoadPlan, Protocol};
use crate::engine::metrics::{Kind, Recorder};

/// A connection's byte stream, plain or TLS.
#[derive(Debug)]
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// What opening one connection took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    /// TCP connect.
    pub connect: Duration,
    /// The TLS handshake after it (`https://` only).
    pub tls: Option<Duration>,
}

/// A connection that could not be opened: the outcome it gives its request, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub kind: Kind,
    pub reason: String,
}

/// What happened to connections since the recorder last heard: opened ones with their
/// setup times, refused ones with the reason, GOAWAYs.
#[derive(Debug, Default)]
pub(super) struct Events {
    opened: Vec<Setup>,
    refused: Vec<String>,
    goaways: u64,
}

impl Events {
    pub(super) fn opened(&mut self, setup: Setup) {
        self.opened.push(setup);
    }

    pub(super) fn refused(&mut self, refused: &Refused) {
        self.refused.push(refused.reason.clone());
    }

    pub(super) fn goaway(&mut self) {
        self.goaways += 1;
    }

    /// Hands everything to the recorder and starts again empty.
    pub(super) fn drain_into(&mut self, recorder: &mut Recorder) {
        for setup in self.opened.drain(..) {
            recorder.opened(setup.connect, setup.tls);
        }
        for reason in self.refused.drain(..) {
            recorder.refused(&reason);
        }
        for _ in 0..std::mem::take(&mut self.goaways) {
            recorder.goaway();
        }
    }
}

/// Opens connections to the target.
#[derive(Clone)]
pub(super) struct Dialer {
    addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// HTTP/2 over TLS: the server must choose `h2` by ALPN.
    needs_h2: bool,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer")
            .field("addr", &self.addr)
            .field("tls", &self.tls.as_ref().map(|(_, name)| name))
            .field("needs_h2", &self.needs_h2)
            .finish()
    }
}

impl Dialer {
    /// The dialer for `plan`, its host resolved to `addr`.
    pub(super) fn new(plan: &LoadPlan, addr: SocketAddr) -> Result<Self, TlsError> {
        let needs_h2 = matches!(plan.protocol, Protocol::Http2 { .. });
        let tls = if plan.target.tls {
            let alpn: &[&[u8]] = if needs_h2 { &[b"h2"] } else { &[b"http/1.1"] };
            let config = tls::client_config(&plan.tls, alpn)?;
            Some((
                TlsConnector::from(config),
                tls::server_name(&plan.target.host)?,
            ))
        } else {
            None
        };
        Ok(Self {
            addr,
            tls,
            needs_h2,
        })
    }

    /// Opens one connection.
    pub(super) async fn dial(&self) -> Result<(Stream, Setup), Refused> {
        let started = Instant::now();
        let tcp = TcpStream::connect(self.addr).await.map_err(|e| Refused {
            kind: Kind::Connect,
            reason: e.to_string(),
        })?;
        let _ = tcp.set_nodelay(true);
        let connect = started.elapsed();
        let Some((connector, name)) = &self.tls else {
            return Ok((Stream::Plain(tcp), Setup { connect, tls: None }));
        };
        let handshake = Instant::now();
        let stream = connector
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| Refused {
                kind: tls::kind_of(&e).unwrap_or(Kind::Tls),
                reason: tls::words(&e),
            })?;
        if self.needs_h2 && stream.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(Refused {
                kind: Kind::Tls,
                reason: "the server did not choose HTTP/2 (ALPN h2)".to_owned(),
            });
        }
        Ok((
            Stream::Tls(Box::new(stream)),
            Setup {
                connect,
                tls: Some(handshake.elapsed()),
            },
        ))
    }
}
