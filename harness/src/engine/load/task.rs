//! Weighted tasks: what one request sends. Parsed from `--task` text:
//!
//! `METHOD PATH [weight=N] [name=NAME] [header=NAME:VALUE]... [body=TEXT | body=@FILE]`
//!
//! `body=` takes the rest of the line, so it comes last. A JSON body gets
//! `content-type: application/json` unless a header sets one.

use std::path::Path;

use bytes::Bytes;

/// One kind of request, chosen with probability weight / total weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// Shown in reports; defaults to `METHOD PATH`.
    pub name: String,
    pub method: String,
    /// Path and query, relative to the target's base path.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub weight: u32,
}

/// Why a task is not valid.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("expected `METHOD PATH [weight=N] [name=NAME] [header=K:V] [body=...]`, got `{0}`")]
    Shape(String),
    #[error("`{0}` is not an HTTP method")]
    Method(String),
    #[error("path `{0}` must start with `/`")]
    Path(String),
    #[error("`{0}`: expected weight=N with N from 1 to 1000000")]
    Weight(String),
    #[error("`{0}`: expected header=NAME:VALUE")]
    Header(String),
    #[error("unknown option `{0}`; options are weight=, name=, header=, body=")]
    Option(String),
    #[error("cannot read body file {path}: {source}")]
    BodyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

impl TaskSpec {
    /// A task from its parts, with the default name and a JSON content type when it fits.
    pub fn new(
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
        weight: u32,
    ) -> Result<Self, TaskError> {
        let method = method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(TaskError::Method(method));
        }
        if !path.starts_with('/') {
            return Err(TaskError::Path(path.to_owned()));
        }
        let name = format!("{method} {path}");
        let mut task = Self {
            name,
            method,
            path: path.to_owned(),
            headers,
            body,
            weight,
        };
        task.default_content_type();
        Ok(task)
    }

    fn default_content_type(&mut self) {
        let has_type = self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        let is_json = serde_json::from_slice::<serde_json::Value>(&self.body).is_ok();
        if !has_type && !self.body.is_empty() && is_json {
            self.headers
                .push(("content-type".to_owned(), "application/json".to_owned()));
        }
    }

    /// Parses `--task` text; `body=@FILE` is read relative to `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, TaskError> {
        let text = text.trim();
        let (head, body) = match text.find(" body=") {
            Some(i) => (&text[..i], Some(&text[i + " body=".len()..])),
            None => (text, None),
        };
        let mut words = head.split_whitespace();
        let (Some(method), Some(path)) = (words.next(), words.next()) else {
            return Err(TaskError::Shape(text.to_owned()));
        };
        let (mut weight, mut name, mut headers) = (1, None, Vec::new());
        for word in words {
            match word.split_once('=') {
                Some(("weight", n)) => {
                    weight = n
                        .parse()
                        .ok()
                        .filter(|w| (1..=1_000_000).contains(w))
                        .ok_or_else(|| TaskError::Weight(word.to_owned()))?;
                }
                Some(("name", n)) => name = Some(n.to_owned()),
                Some(("header", h)) => {
                    headers
                        .push(parse_header(h).ok_or_else(|| TaskError::Header(word.to_owned()))?);
                }
                _ => return Err(TaskError::Option(word.to_owned())),
            }
        }
        let body = match body {
            Some(b) => read_body(b, base_dir)?,
            None => Bytes::new(),
        };
        let mut task = Self::new(method, path, headers, body, weight)?;
        if let Some(name) = name {
            task.name = name;
        }
        Ok(task)
    }
}

/// `NAME:VALUE` (as in curl's `-H`).
pub fn parse_header(text: &str) -> Option<(String, String)> {
    let (k, v) = text.split_once(':')?;
    let k = k.trim();
    let valid = !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
    valid.then(|| (k.to_owned(), v.trim().to_owned()))
}

/// `TEXT`, or the contents of `@FILE`.
pub fn read_body(text: &str, base_dir: &Path) -> Result<Bytes, TaskError> {
    match text.strip_prefix('@') {
        Some(file) => {
            let path = base_dir.join(file);
            std::fs::read(&path)
                .map(Bytes::from)
                .map_err(|source| TaskError::BodyFile {
                    path: path.display().to_string(),
                    source,
                })
        }
        None => Ok(Bytes::copy_from_slice(text.as_bytes())),
    }
}

/// Picks tasks by weight.
#[derive(Debug, Clone)]
pub struct TaskPicker {
    /// Running sums of the weights.
    cumulative: Vec<u64>,
}

impl TaskPicker {
    pub fn new(tasks: &[TaskSpec]) -> Self {
        let cumulative = tasks
            .iter()
            .scan(0u64, |sum, t| {
                *sum += u64::from(t.weight);
                Some(*sum)
            })
            .collect();
        Self { cumulative }
    }

    /// The index of a task, with probability proportional to its weight.
    pub fn pick(&self, rng: &mut fastrand::Rng) -> usize {
        if self.cumulative.len() == 1 {
            return 0;
        }
        let total = *self.cumulative.last().expect("at least one task");
        let r = rng.u64(0..total);
        self.cumulative.partition_point(|&c| c <= r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TaskSpec, TaskError> {
        TaskSpec::parse(text, Path::new("."))
    }

    #[test]
    fn a_full_task_line_parses_with_the_body_last() {
        let line = r#"post /mode2/messages weight=3 name=insert header=X-Trace:1 body={"title": "a b", "contents": "c"}"#;
        let t = parse(line).unwrap();
        assert_eq!(
            (t.method.as_str(), t.path.as_str(), t.weight),
            ("POST", "/mode2/messages", 3)
        );
        assert_eq!(t.name, "insert");
        assert_eq!(
            t.body,
            Bytes::from_static(br#"{"title": "a b", "contents": "c"}"#)
        );
        assert!(t.headers.contains(&("X-Trace".to_owned(), "1".to_owned())));
        assert!(
            t.headers
                .contains(&("content-type".to_owned(), "application/json".to_owned()))
        );
    }

    #[test]
    fn defaults_are_weight_one_and_a_name_from_method_and_path() {
        let t = parse("GET /health").unwrap();
        assert_eq!(
            (t.weight, t.name.as_str(), t.body.len()),
            (1, "GET /health", 0)
        );
    }

    #[test]
    fn bad_task_text_says_what_is_wrong() {
        let err = |text: &str| parse(text).map(|_| ()).unwrap_err();
        assert!(matches!(err("GET"), TaskError::Shape(s) if s == "GET"));
        assert!(matches!(err("FETCH /x"), TaskError::Method(s) if s == "FETCH"));
        assert!(matches!(err("GET health"), TaskError::Path(s) if s == "health"));
        assert!(matches!(err("GET /x weight=0"), TaskError::Weight(s) if s == "weight=0"));
        assert!(matches!(err("GET /x color=red"), TaskError::Option(s) if s == "color=red"));
        let missing = err("POST /x body=@/no/such/file");
        assert!(matches!(missing, TaskError::BodyFile { .. }));
        // The I/O error is kept as the source, not flattened into words.
        let source = std::error::Error::source(&missing)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .map(std::io::Error::kind);
        assert_eq!(source, Some(std::io::ErrorKind::NotFound));
    }

    #[test]
    fn picks_follow_the_weights() {
        let tasks = [
            parse("GET /a weight=1").unwrap(),
            parse("GET /b weight=3").unwrap(),
        ];
        let picker = TaskPicker::new(&tasks);
        let mut rng = fastrand::Rng::with_seed(7);
        let mut counts = [0u32; 2];
        for _ in 0..40_000 {
            counts[picker.pick(&mut rng)] += 1;
        }
        let share_b = f64::from(counts[1]) / 40_000.0;
        assert!((share_b - 0.75).abs() < 0.01, "share of b: {share_b}");
    }
}
