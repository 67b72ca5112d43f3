//! A user's (or open-model slot's) way to the target: its own HTTP/1.1 connection, or a share
//! of an HTTP/2 connection it uses with up to `streams - 1` others of its worker.

use std::rc::Rc;
use std::time::Duration;

use super::client::{Connection, Prepared};
use super::dial::Dialer;
use super::http2;
use crate::engine::metrics::{Outcome, Recorder};

#[derive(Debug)]
pub(super) enum Link {
    Http1(Connection),
    Http2(Rc<http2::Connection>),
}

impl Link {
    /// Sends one request and waits at most `timeout` for the whole response.
    pub(super) async fn send(
        &mut self,
        dialer: &Dialer,
        task: &Prepared,
        timeout: Duration,
    ) -> Outcome {
        match self {
            Link::Http1(c) => c.send(dialer, task, timeout).await,
            Link::Http2(c) => c.send(dialer, task, timeout).await,
        }
    }

    /// Connections opened, refused or ended since the last call, to the recorder.
    pub(super) fn drain_into(&mut self, recorder: &mut Recorder) {
        match self {
            Link::Http1(c) => c.events.drain_into(recorder),
            Link::Http2(c) => c.drain_into(recorder),
        }
    }
}

/// Hands out links for one worker: a fresh HTTP/1.1 connection each, or HTTP/2 connections
/// shared `streams` to one in the order links are asked for.
#[derive(Debug)]
pub(super) struct Links {
    streams: Option<usize>,
    given: usize,
    shared: Vec<Rc<http2::Connection>>,
}

impl Links {
    /// `streams`: `None` for HTTP/1.1, else requests at once per HTTP/2 connection.
    pub(super) fn new(streams: Option<u32>) -> Self {
        Self {
            streams: streams.map(|s| s.max(1) as usize),
            given: 0,
            shared: Vec::new(),
        }
    }

    pub(super) fn next(&mut self) -> Link {
        let Some(streams) = self.streams else {
            return Link::Http1(Connection::default());
        };
        if self.given.is_multiple_of(streams) {
            self.shared.push(Rc::new(http2::Connection::default()));
        }
        self.given += 1;
        Link::Http2(Rc::clone(self.shared.last().expect("pushed above")))
    }

    /// Whatever the shared connections still hold for the recorder (a GOAWAY after the last
    /// request, say).
    pub(super) fn drain_into(&self, recorder: &mut Recorder) {
        for c in &self.shared {
            c.drain_into(recorder);
        }
    }
}
