//! A service's log, bounded: its stdout and stderr through one pipe into the cell's log file,
//! keeping the first [`KEEP`] bytes as written and the last [`KEEP`] in memory until the end,
//! when they follow a line that says how much was cut between them. A service that logs a line
//! per request would otherwise write gigabytes an hour.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How much of the start and of the end of a log is kept: 4 MiB each.
pub const KEEP: usize = 4 << 20;

/// What the log holds so far.
#[derive(Debug)]
struct State {
    file: File,
    head_keep: usize,
    /// Bytes still to go straight to the file before the tail buffer takes over.
    head_left: usize,
    tail: VecDeque<u8>,
    tail_keep: usize,
    cut: u64,
    /// Set once the tail is written: later bytes are dropped (a descendant that escaped the
    /// process group can hold the pipe open).
    closed: bool,
}

impl State {
    fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        if self.head_left > 0 {
            let n = bytes.len().min(self.head_left);
            self.file.write_all(&bytes[..n])?;
            self.head_left -= n;
            bytes = &bytes[n..];
        }
        self.tail.extend(bytes);
        let over = self.tail.len().saturating_sub(self.tail_keep);
        if over > 0 {
            self.tail.drain(..over);
            self.cut += over as u64;
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        if std::mem::replace(&mut self.closed, true) {
            return Ok(());
        }
        if self.cut > 0 {
            writeln!(
                self.file,
                "\n[poolstorm cut {} bytes here: this log keeps the first {} and the last {} \
                 bytes the service wrote]",
                self.cut, self.head_keep, self.tail_keep
            )?;
        }
        let (a, b) = self.tail.as_slices();
        self.file.write_all(a)?;
        self.file.write_all(b)?;
        self.tail.clear();
        self.file.flush()
    }
}

/// The reading end of a service's output, filling its log file from a thread of its own.
#[derive(Debug, Clone)]
pub struct BoundedLog {
    state: Arc<Mutex<State>>,
    /// Closed (sender dropped) when the pipe reached its end.
    drained: Arc<Mutex<Option<std::sync::mpsc::Receiver<()>>>>,
}

impl BoundedLog {
    /// Creates `path` and a pipe whose writing end the service gets as stdout and stderr;
    /// keeps the first `head` and the last `tail` bytes.
    pub fn create(
        path: &Path,
        head: usize,
        tail: usize,
    ) -> std::io::Result<(Self, std::io::PipeWriter)> {
        let file = File::create(path)?;
        let (mut reader, writer) = std::io::pipe()?;
        let state = Arc::new(Mutex::new(State {
            file,
            head_keep: head,
            head_left: head,
            tail: VecDeque::new(),
            tail_keep: tail,
            cut: 0,
            closed: false,
        }));
        let (done, drained) = std::sync::mpsc::channel::<()>();
        let filling = Arc::clone(&state);
        std::thread::Builder::new()
            .name("poolstorm-service-log".to_owned())
            .spawn(move || {
                let _done = done;
                let mut buf = vec![0u8; 64 << 10];
                while let Ok(n @ 1..) = reader.read(&mut buf) {
                    let mut state = filling.lock().expect("log lock");
                    if state.write(&buf[..n]).is_err() {
                        break;
                    }
                }
            })?;
        let log = Self {
            state,
            drained: Arc::new(Mutex::new(Some(drained))),
        };
        Ok((log, writer))
    }

    /// Waits (at most `limit`) for the service's output to end, then writes the kept tail
    /// after the head; returns the bytes cut. Later output is dropped.
    pub fn finish(&self, limit: Duration) -> std::io::Result<u64> {
        let drained = self.drained.lock().expect("log lock").take();
        if let Some(drained) = drained {
            let _ = drained.recv_timeout(limit);
        }
        let mut state = self.state.lock().expect("log lock");
        state.finish()?;
        Ok(state.cut)
    }

    /// The last `lines` lines written so far, for an error message: from the tail buffer once
    /// the head is full, else from the file.
    pub fn last_lines(&self, path: &Path, lines: usize) -> String {
        let state = self.state.lock().expect("log lock");
        if state.head_left > 0 || state.closed {
            drop(state);
            return crate::base::local::tail(path, lines);
        }
        let bytes: Vec<u8> = state.tail.iter().copied().collect();
        crate::base::local::last_lines(&String::from_utf8_lossy(&bytes), lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_past_its_bounds_keeps_its_head_and_tail_and_says_how_much_was_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.log");
        let (log, mut writer) = BoundedLog::create(&path, 10, 8).unwrap();
        writer.write_all(b"0123456789").unwrap();
        writer.write_all(b"cut cut cut cut\n").unwrap();
        writer.write_all(b"the end\n").unwrap();
        drop(writer);
        assert_eq!(log.finish(Duration::from_secs(5)).unwrap(), 16);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "0123456789\n[poolstorm cut 16 bytes here: this log keeps the first 10 and the last \
             8 bytes the service wrote]\nthe end\n"
        );
    }

    #[test]
    fn a_log_within_its_bounds_is_whole_and_its_last_lines_are_readable_while_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.log");
        let (log, mut writer) = BoundedLog::create(&path, 4, 100).unwrap();
        writer.write_all(b"one\ntwo\nthree\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while log.last_lines(&path, 2) != "two\nthree" {
            assert!(
                std::time::Instant::now() < deadline,
                "{}",
                log.last_lines(&path, 2)
            );
            std::thread::yield_now();
        }
        drop(writer);
        assert_eq!(log.finish(Duration::from_secs(5)).unwrap(), 0);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\nthree\n");
        assert_eq!(log.last_lines(&path, 1), "three");
    }
}
