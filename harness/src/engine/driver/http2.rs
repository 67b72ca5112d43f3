//! HTTP/2 through the `h2` crate: one connection carries up to `streams` requests at once, so
//! users (or open-model slots) share it. It is opened on first use (TLS with ALPN `h2`, or
//! prior knowledge over TCP for h2c) and again after it ends. A request the server refused
//! unprocessed (GOAWAY past its last stream, or `REFUSED_STREAM`) goes once more on a fresh
//! connection, as HTTP/1.1's kept-alive retry does; failing again it counts as `goaway` or
//! `stream_reset`. The server ending a connection with GOAWAY is counted apart.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{Reason, RecvStream};

use super::client::Prepared;
use super::dial::{Dialer, Events};
use super::http1::ERROR_BODY_HEAD;
use crate::engine::metrics::{Kind, Outcome, Recorder};

/// Flow-control windows: large enough that a response never waits on our window updates.
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 1 << 24;

#[derive(Debug, Default)]
struct State {
    /// The open connection and its generation (so that a stale failure never forgets a newer
    /// connection).
    send: Option<(u64, SendRequest<Bytes>)>,
    generation: u64,
    events: Events,
}

/// One HTTP/2 connection, shared by the users of one worker that are assigned to it.
#[derive(Debug, Default)]
pub(super) struct Connection {
    state: Rc<RefCell<State>>,
    /// One dial at a time: users arriving while it is under way wait for it.
    dialing: tokio::sync::Mutex<()>,
}

/// Why a request got no response.
struct Failure {
    kind: Kind,
    /// The server did not process it: it may go again.
    retry: bool,
    /// The connection is done for.
    broken: bool,
}

impl Failure {
    fn of(error: &h2::Error, sent: bool) -> Self {
        let refused = error.is_go_away() || error.reason() == Some(Reason::REFUSED_STREAM);
        let kind = if error.is_go_away() {
            Kind::GoAway
        } else if error.is_reset() {
            Kind::StreamReset
        } else if let Some(io) = error.get_io() {
            super::tls::kind_of(io).unwrap_or(Kind::Connect)
        } else {
            Kind::Other
        };
        Self {
            kind,
            retry: refused || !sent,
            broken: error.is_go_away() || error.is_io() || !sent,
        }
    }
}

impl Connection {
    /// Sends one request and waits at most `timeout` for the whole response. A request cut
    /// off by the timeout resets its own stream only; the connection stays.
    pub(super) async fn send(
        &self,
        dialer: &Dialer,
        task: &Prepared,
        timeout: Duration,
    ) -> Outcome {
        match tokio::time::timeout(timeout, self.exchange(dialer, task)).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(kind)) => Outcome::no_response(kind),
            Err(_) => Outcome::no_response(Kind::Timeout),
        }
    }

    /// Connections opened, refused or ended by GOAWAY since the last call, to the recorder.
    pub(super) fn drain_into(&self, recorder: &mut Recorder) {
        self.state.borrow_mut().events.drain_into(recorder);
    }

    async fn exchange(&self, dialer: &Dialer, task: &Prepared) -> Result<Outcome, Kind> {
        let mut last = Kind::Connect;
        for _ in 0..2 {
            let (generation, send) = self.sender(dialer).await?;
            match request(send, task).await {
                Ok(outcome) => return Ok(outcome),
                Err(failure) => {
                    if failure.broken {
                        self.forget(generation);
                    }
                    if !failure.retry {
                        return Err(failure.kind);
                    }
                    last = failure.kind;
                }
            }
        }
        Err(last)
    }

    /// The open connection, dialed (and its HTTP/2 handshake done) when there is none.
    async fn sender(&self, dialer: &Dialer) -> Result<(u64, SendRequest<Bytes>), Kind> {
        if let Some(open) = self.state.borrow().send.clone() {
            return Ok(open);
        }
        let _dialing = self.dialing.lock().await;
        if let Some(open) = self.state.borrow().send.clone() {
            return Ok(open);
        }
        let (stream, setup) = match dialer.dial().await {
            Ok(dialed) => dialed,
            Err(refused) => {
                self.state.borrow_mut().events.refused(&refused);
                return Err(refused.kind);
            }
        };
        let handshake = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .handshake::<_, Bytes>(stream)
            .await;
        let (send, connection) = match handshake {
            Ok(pair) => pair,
            Err(e) => {
                let kind = Failure::of(&e, false).kind;
                let refused = super::dial::Refused {
                    kind,
                    reason: format!("HTTP/2 handshake: {e}"),
                };
                self.state.borrow_mut().events.refused(&refused);
                return Err(kind);
            }
        };
        let generation = {
            let mut state = self.state.borrow_mut();
            state.events.opened(setup);
            state.generation += 1;
            state.send = Some((state.generation, send.clone()));
            state.generation
        };
        // The connection's own task: frames in and out. When it ends, the next request dials
        // again; an end the server chose (GOAWAY) is counted.
        let state = Rc::downgrade(&self.state);
        tokio::task::spawn_local(async move {
            let ended = connection.await;
            let Some(state) = state.upgrade() else { return };
            let mut state = state.borrow_mut();
            let by_goaway = match &ended {
                Ok(()) => true,
                Err(e) => e.is_go_away() && e.is_remote(),
            };
            // Still the open one: nobody dropped it on purpose, so the server ended it.
            if state.send.as_ref().is_some_and(|(g, _)| *g == generation) {
                state.send = None;
                if by_goaway {
                    state.events.goaway();
                }
            }
        });
        Ok((generation, send))
    }

    fn forget(&self, generation: u64) {
        let mut state = self.state.borrow_mut();
        if state.send.as_ref().is_some_and(|(g, _)| *g == generation) {
            state.send = None;
        }
    }
}

/// One request on the connection: wait for a free stream, send head and body, read the whole
/// response (keeping the start of an error body for classification).
async fn request(send: SendRequest<Bytes>, task: &Prepared) -> Result<Outcome, Failure> {
    let mut send = send.ready().await.map_err(|e| Failure::of(&e, false))?;
    let end_of_stream = task.body.is_empty();
    let (response, mut body) = send
        .send_request(task.h2_request(), end_of_stream)
        .map_err(|e| Failure::of(&e, false))?;
    if !end_of_stream {
        body.send_data(task.body.clone(), true)
            .map_err(|e| Failure::of(&e, true))?;
    }
    let response = response.await.map_err(|e| Failure::of(&e, true))?;
    let status = response.status().as_u16();
    let keep = !(200..300).contains(&status);
    let head = read_body(response.into_body(), keep, task.is_head())
        .await
        .map_err(|e| Failure::of(&e, true))?;
    Ok(Outcome::from_response(status, &head))
}

/// Reads a response body to its end, giving the window back as it goes; returns its first
/// [`ERROR_BODY_HEAD`] bytes when `keep`.
async fn read_body(
    mut body: RecvStream,
    keep: bool,
    head_request: bool,
) -> Result<Vec<u8>, h2::Error> {
    let mut head = Vec::new();
    if head_request {
        return Ok(head);
    }
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if keep && head.len() < ERROR_BODY_HEAD {
            let take = chunk.len().min(ERROR_BODY_HEAD - head.len());
            head.extend_from_slice(&chunk[..take]);
        }
    }
    Ok(head)
}
