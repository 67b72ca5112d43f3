//! Keeping secrets out of everything poolstorm writes: passwords in URLs (`scheme://user:***@`),
//! wherever a URL appears, and the literal values it was told are secret (the `Authorization`,
//! `Proxy-Authorization` and `Cookie` header values of tasks, `[vars]` and `[target] env` keys a
//! scenario lists in `secrets`, the cell databases' passwords) replaced by `***`.

use std::sync::{Arc, Mutex};

/// What replaces a secret.
pub const MASK: &str = "***";

/// Headers whose values are secret.
pub const SECRET_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// Literal secrets shorter than this are only masked where they are a URL's password: a
/// two-letter password replaced everywhere would garble every report.
const MIN_LITERAL: usize = 4;

/// `text` with the password of every `scheme://user:password@` replaced by `***`.
pub fn urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // The authority ends at the first `/`, `?`, `#`, whitespace or quote.
        let end = after
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '`' | '<' | '>') || c.is_whitespace()
            })
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rsplit_once('@') {
            Some((userinfo, host)) if userinfo.contains(':') => {
                let user = userinfo.split(':').next().unwrap_or_default();
                out.push_str(&format!("{user}:{MASK}@{host}"));
            }
            _ => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The secrets of one run, shared by everything that writes.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<Mutex<Vec<String>>>,
}

impl Redactor {
    /// Remembers a secret (empty and repeated ones are ignored).
    pub fn add(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let mut all = self.secrets.lock().expect("secrets lock");
        if !all.iter().any(|s| s == secret) {
            all.push(secret.to_owned());
            // Longest first: a secret that contains another is masked whole.
            all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `text` with URL passwords and every known secret masked.
    pub fn apply(&self, text: &str) -> String {
        let mut out = urls(text);
        for secret in self.secrets.lock().expect("secrets lock").iter() {
            if secret.len() >= MIN_LITERAL {
                out = out.replace(secret.as_str(), MASK);
            }
            // Percent-encoded in a URL, as a password often is.
            let encoded =
                percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            if encoded != *secret && encoded.len() >= MIN_LITERAL {
                out = out.replace(&encoded, MASK);
            }
        }
        out
    }
}

impl Redactor {
    /// A copy of `value` with every string in it (keys too) redacted.
    pub fn scrub<T: serde::Serialize + serde::de::DeserializeOwned>(&self, value: &T) -> T {
        let mut tree = serde_json::to_value(value).expect("reports serialize");
        self.walk(&mut tree);
        serde_json::from_value(tree).expect("a redacted report still deserializes")
    }

    fn walk(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => *s = self.apply(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.walk(v)),
            serde_json::Value::Object(map) => {
                let entries = std::mem::take(map);
                for (k, mut v) in entries {
                    self.walk(&mut v);
                    map.insert(self.apply(&k), v);
                }
            }
            _ => {}
        }
    }

    /// Rewrites a file with its secrets masked (a service's log, after the service stopped).
    pub fn file(&self, path: &std::path::Path) -> std::io::Result<()> {
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let clean = self.apply(&text);
        if clean != text {
            std::fs::write(path, clean)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_masked_wherever_a_url_appears() {
        assert_eq!(
            urls(r#"backend "mysql://probe:probe@127.0.0.1:3399/db" and http://u:p@h/x?y"#),
            r#"backend "mysql://probe:***@127.0.0.1:3399/db" and http://u:***@h/x?y"#
        );
        assert_eq!(
            urls("mysql://root@127.0.0.1:3306"),
            "mysql://root@127.0.0.1:3306"
        );
        assert_eq!(urls("no url: here"), "no url: here");
        assert_eq!(urls("a://"), "a://");
    }

    #[test]
    fn known_secrets_are_masked_in_any_text_even_percent_encoded() {
        let r = Redactor::default();
        r.add("Bearer tok-123");
        r.add("p@ss/word");
        r.add("pw");
        let text = "Authorization: Bearer tok-123; mysql://app:p%40ss%2Fword@h/db; keep pw here";
        assert_eq!(
            r.apply(text),
            "Authorization: ***; mysql://app:***@h/db; keep pw here"
        );
        assert_eq!(r.apply("mysql://app:pw@h"), "mysql://app:***@h");
        let scrubbed: serde_json::Value = r.scrub(&serde_json::json!({
            "evidence": ["x Bearer tok-123"],
            "Bearer tok-123": 1
        }));
        assert_eq!(
            scrubbed,
            serde_json::json!({"evidence": ["x ***"], "***": 1})
        );
    }
}
