//! This machine's programs and logs: finding a program on `PATH` (and in the usual system
//! directories), and the last lines of a log for an error message.

use std::path::{Path, PathBuf};

/// Directories server packages install into that a user's `PATH` often lacks.
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr/sbin",
    "/usr/local/sbin",
    "/usr/local/mysql/bin",
    "/opt/homebrew/bin",
    "/usr/local/bin",
];

/// The first of `names` found on `PATH`, then in `extra` directories.
pub fn which(names: &[&str], extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(extra.iter().map(PathBuf::from))
        .collect();
    names
        .iter()
        .find_map(|name| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()))
}

/// The last `lines` lines of a file (empty when it cannot be read).
pub fn tail(path: &Path, lines: usize) -> String {
    last_lines(&std::fs::read_to_string(path).unwrap_or_default(), lines)
}

/// The last `lines` lines of `text`.
pub fn last_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::write(&log, "a\nb\nc\n").unwrap();
        assert_eq!(tail(&log, 2), "b\nc");
        assert_eq!(tail(&dir.path().join("missing"), 2), "");
    }

    #[test]
    fn which_finds_programs_in_extra_directories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("prog-poolstorm-test"), "").unwrap();
        let extra = dir.path().to_str().unwrap();
        assert_eq!(
            which(&["nope-x", "prog-poolstorm-test"], &[extra]),
            Some(dir.path().join("prog-poolstorm-test"))
        );
        assert_eq!(which(&["nope-x"], &[extra]), None);
    }
}
