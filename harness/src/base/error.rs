//! An error as one line of words for people: the error, then each cause beneath it whose
//! words were not already said, joined by `: `. Library errors keep their cause as `source()`
//! and often say it too (as sqlx's do); this prints each once.

use std::error::Error;

/// `err` and its causes, each said once: `reading x.toml: No such file or directory`.
pub fn chain(err: &(dyn Error + 'static)) -> String {
    let mut words = err.to_string();
    let mut cause = err.source();
    while let Some(next) = cause {
        let said = next.to_string();
        if !words.contains(&said) {
            words.push_str(": ");
            words.push_str(&said);
        }
        cause = next.source();
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading {path}: {source}")]
    struct Saying {
        path: &'static str,
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("the scenario")]
    struct Quiet(#[source] Saying);

    #[derive(Debug, thiserror::Error)]
    #[error("`zz` is not a duration ({0}); try 3s")]
    struct Inside(#[source] std::io::Error);

    #[test]
    fn each_cause_is_said_once_whether_or_not_the_error_above_says_it() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let saying = Saying {
            path: "x.toml",
            source: io(),
        };
        assert_eq!(chain(&saying), "reading x.toml: no such file");
        let quiet = Quiet(Saying {
            path: "x.toml",
            source: io(),
        });
        assert_eq!(chain(&quiet), "the scenario: reading x.toml: no such file");
        let context = anyhow::Error::new(io()).context("the cell's database");
        assert_eq!(chain(context.as_ref()), "the cell's database: no such file");
        assert_eq!(
            chain(&Inside(io())),
            "`zz` is not a duration (no such file); try 3s"
        );
    }
}
