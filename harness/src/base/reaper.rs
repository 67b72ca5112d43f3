//! Nothing poolstorm started outlives it, however it ends. A small process of its own
//! (`poolstorm reap`, hidden) reads registrations from a pipe: the process groups of the
//! services and database servers poolstorm starts, and the folders they use. When the pipe
//! ends, because poolstorm exited (by SIGKILL too: the kernel closes a dead process's files),
//! it SIGKILLs every group still registered and removes every folder still registered.
//!
//! A pipe's end, rather than `PR_SET_PDEATHSIG` on each child, because the parent-death signal
//! follows the thread that spawned the child (a tokio worker may not outlive it) and reaches only
//! the process itself, not the children of a shell or a server. The reaper sits in a process
//! group of its own, so Ctrl-C in the terminal does not end it before poolstorm's own cleanup.

use std::io::{BufRead, Write as _};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Stdio};
use std::sync::{Mutex, OnceLock};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// One registration, one line on the pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A process group to kill: `group PGID`.
    Group(i32),
    /// No longer: `ungroup PGID`.
    Ungroup(i32),
    /// A folder to remove: `dir PATH`.
    Dir(PathBuf),
    /// No longer: `undir PATH`.
    Undir(PathBuf),
}

impl Line {
    fn text(&self) -> String {
        match self {
            Line::Group(g) => format!("group {g}"),
            Line::Ungroup(g) => format!("ungroup {g}"),
            Line::Dir(d) => format!("dir {}", d.display()),
            Line::Undir(d) => format!("undir {}", d.display()),
        }
    }

    fn parse(line: &str) -> Option<Self> {
        let (word, rest) = line.split_once(' ')?;
        Some(match word {
            "group" => Line::Group(rest.parse().ok()?),
            "ungroup" => Line::Ungroup(rest.parse().ok()?),
            "dir" => Line::Dir(PathBuf::from(rest)),
            "undir" => Line::Undir(PathBuf::from(rest)),
            _ => return None,
        })
    }
}

/// The pipe to this process's reaper, started on first use; `None` where no poolstorm binary
/// could be found to run it (a library user's own program).
static REAPER: OnceLock<Option<Mutex<ChildStdin>>> = OnceLock::new();

/// The poolstorm binary: this one, or, from a test binary in `target/*/deps/`, the one beside
/// that folder.
fn binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    if exe.file_name().is_some_and(|n| n == "poolstorm") {
        return Some(exe);
    }
    let beside = exe.parent()?.parent()?.join("poolstorm");
    beside.is_file().then_some(beside)
}

fn start() -> Option<Mutex<ChildStdin>> {
    use std::os::unix::process::CommandExt as _;
    let mut child = std::process::Command::new(binary()?)
        .arg("reap")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .ok()?;
    // Not waited for: it ends with the pipe, after this process.
    child.stdin.take().map(Mutex::new)
}

/// Tells the reaper `line`; quietly nothing where there is no reaper.
pub fn tell(line: &Line) {
    if let Some(pipe) = REAPER.get_or_init(start) {
        let mut pipe = pipe.lock().expect("reaper pipe lock");
        let _ = writeln!(pipe, "{}", line.text());
    }
}

/// Kill process group `pgid` if poolstorm dies before [`forget_group`].
pub fn watch_group(pgid: u32) {
    tell(&Line::Group(pgid as i32));
}

/// Group `pgid` was stopped by poolstorm itself.
pub fn forget_group(pgid: u32) {
    tell(&Line::Ungroup(pgid as i32));
}

/// Remove `dir` if poolstorm dies before [`forget_dir`].
pub fn watch_dir(dir: &Path) {
    tell(&Line::Dir(dir.to_owned()));
}

/// `dir` was removed by poolstorm itself.
pub fn forget_dir(dir: &Path) {
    tell(&Line::Undir(dir.to_owned()));
}

/// A new temp directory under `parent`, removed when dropped and by the reaper should
/// poolstorm die first (a throwaway server's datadir).
pub fn temp_dir(prefix: &str, parent: &Path) -> std::io::Result<WatchedDir> {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
    watch_dir(dir.path());
    Ok(WatchedDir(dir))
}

/// A temp directory the reaper knows of; see [`temp_dir`].
#[derive(Debug)]
pub struct WatchedDir(tempfile::TempDir);

impl WatchedDir {
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for WatchedDir {
    /// Its files go with the temp dir: the reaper need not.
    fn drop(&mut self) {
        forget_dir(self.0.path());
    }
}

/// `poolstorm reap`: reads lines until the input ends, then kills and removes what is still
/// registered. Returns what it killed and removed.
pub fn reap(input: impl BufRead) -> (Vec<i32>, Vec<PathBuf>) {
    let mut groups = Vec::new();
    let mut dirs = Vec::new();
    for line in input.lines() {
        let Ok(line) = line else { break };
        match Line::parse(&line) {
            Some(Line::Group(g)) => groups.push(g),
            Some(Line::Ungroup(g)) => groups.retain(|&x| x != g),
            Some(Line::Dir(d)) => dirs.push(d),
            Some(Line::Undir(d)) => dirs.retain(|x| *x != d),
            None => {}
        }
    }
    for &g in &groups {
        let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
    }
    // A server killed a moment ago may still be writing: try again until it is gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    for d in &dirs {
        while std::fs::remove_dir_all(d).is_err()
            && d.exists()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    (groups, dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_as_written() {
        for line in [
            Line::Group(42),
            Line::Ungroup(42),
            Line::Dir(PathBuf::from("/tmp/a b")),
            Line::Undir(PathBuf::from("/tmp/a b")),
        ] {
            assert_eq!(Line::parse(&line.text()), Some(line));
        }
        assert_eq!(Line::parse("kill everything"), None);
    }

    #[test]
    fn at_the_end_of_its_input_it_kills_the_groups_and_removes_the_folders_still_registered() {
        use std::os::unix::process::CommandExt as _;
        let spawn = || {
            std::process::Command::new("sleep")
                .arg("30")
                .process_group(0)
                .spawn()
                .unwrap()
        };
        let (mut kept, mut forgotten) = (spawn(), spawn());
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let input = format!(
            "group {}\ngroup {}\nungroup {}\ndir {}\ndir {}\nundir {}\nnonsense\n",
            kept.id(),
            forgotten.id(),
            forgotten.id(),
            dirs[0].path().display(),
            dirs[1].path().display(),
            dirs[1].path().display(),
        );
        let (killed, removed) = reap(input.as_bytes());
        assert_eq!(killed, vec![kept.id() as i32]);
        assert_eq!(removed, vec![dirs[0].path().to_owned()]);
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(kept.wait().unwrap().signal(), Some(9));
        assert!(!dirs[0].path().exists());
        assert!(dirs[1].path().exists());
        assert_eq!(
            forgotten.try_wait().unwrap(),
            None,
            "a forgotten group lives on"
        );
        forgotten.kill().unwrap();
        forgotten.wait().unwrap();
    }
}
