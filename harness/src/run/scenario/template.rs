//! `{name}` placeholders in scenario text (command lines, environment, URLs, task paths,
//! headers and bodies) and their values per cell: parameters and vars, free loopback ports
//! (`{port}`, `{port.NAME}`) and the cell's fresh database (`{db.url}`, `{db.host}`, ...).
//! A placeholder is a brace, an identifier (with at most one `.`), and a closing brace, so
//! JSON braces are left alone.

use std::collections::BTreeMap;

use crate::base::param::ParamValue;
use contract::Engine;

/// A placeholder found in text: the byte offset of its `{` and the name inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placeholder<'a> {
    pub offset: usize,
    pub name: &'a str,
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Every placeholder in `text`, in order.
pub fn placeholders(text: &str) -> Vec<Placeholder<'_>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find('{').map(|i| from + i) {
        from = open + 1;
        let Some(close) = text[from..].find('}').map(|i| from + i) else {
            break;
        };
        let name = &text[open + 1..close];
        let valid = match name.split_once('.') {
            Some((ns, key)) => is_ident(ns) && is_ident(key),
            None => is_ident(name),
        };
        if valid {
            out.push(Placeholder { offset: open, name });
        }
    }
    out
}

/// A field of the cell's database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbField {
    /// `mysql://USER:PASS@IP:PORT/NAME` or `sqlite:///PATH`.
    Url,
    Host,
    Port,
    Name,
    User,
    Password,
    /// The SQLite file.
    Path,
    /// The JDBC URL a JVM service takes: `jdbc:mysql://HOST:PORT/NAME`,
    /// `jdbc:postgresql://HOST:PORT/NAME` or `jdbc:sqlite:PATH` (the user and password go
    /// apart, as Spring's `spring.datasource.username` and `password`).
    Jdbc,
}

impl DbField {
    pub const ALL: [DbField; 8] = [
        DbField::Url,
        DbField::Host,
        DbField::Port,
        DbField::Name,
        DbField::User,
        DbField::Password,
        DbField::Path,
        DbField::Jdbc,
    ];

    pub fn key(self) -> &'static str {
        match self {
            DbField::Url => "url",
            DbField::Host => "host",
            DbField::Port => "port",
            DbField::Name => "name",
            DbField::User => "user",
            DbField::Password => "password",
            DbField::Path => "path",
            DbField::Jdbc => "jdbc",
        }
    }

    /// Whether an engine has it: host, port, user and password are a server's; path is
    /// SQLite's.
    pub fn applies_to(self, engine: Engine) -> bool {
        match self {
            DbField::Url | DbField::Name | DbField::Jdbc => true,
            DbField::Path => engine == Engine::Sqlite,
            DbField::Host | DbField::Port | DbField::User | DbField::Password => {
                engine != Engine::Sqlite
            }
        }
    }
}

/// What a placeholder names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name<'a> {
    /// A parameter or a var.
    Value(&'a str),
    /// `{port}` (`None`) or `{port.NAME}`.
    Port(Option<&'a str>),
    /// `{db.FIELD}`.
    Db(DbField),
}

/// Why a placeholder's name refers to nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "`{{db.{0}}}` is no database field; fields are {fields}",
        fields = DbField::ALL.map(|f| format!("db.{}", f.key())).join(", ")
    )]
    DbField(String),
    #[error(
        "`{{{name}}}`: `{namespace}.` is no namespace; use a parameter, a var, port, port.NAME or db.FIELD"
    )]
    Namespace { name: String, namespace: String },
}

impl<'a> Name<'a> {
    /// What `name` (the text between the braces) refers to, or why it refers to nothing.
    pub fn of(name: &'a str) -> Result<Self, NameError> {
        match name.split_once('.') {
            None if name == "port" => Ok(Name::Port(None)),
            None => Ok(Name::Value(name)),
            Some(("port", port)) => Ok(Name::Port(Some(port))),
            Some(("db", field)) => DbField::ALL
                .into_iter()
                .find(|f| f.key() == field)
                .map(Name::Db)
                .ok_or_else(|| NameError::DbField(field.to_owned())),
            Some((namespace, _)) => Err(NameError::Namespace {
                name: name.to_owned(),
                namespace: namespace.to_owned(),
            }),
        }
    }
}

/// The cell's database, as placeholders show it (`None` where the engine has no such field).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbValues {
    pub url: String,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub name: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub path: Option<String>,
    pub jdbc: String,
}

impl DbValues {
    fn get(&self, field: DbField) -> Option<String> {
        match field {
            DbField::Url => Some(self.url.clone()),
            DbField::Host => self.host.clone(),
            DbField::Port => self.port.map(|p| p.to_string()),
            DbField::Name => Some(self.name.clone()),
            DbField::User => self.user.clone(),
            DbField::Password => Some(self.password.clone().unwrap_or_default()),
            DbField::Path => self.path.clone(),
            DbField::Jdbc => Some(self.jdbc.clone()),
        }
    }
}

/// Everything a cell's placeholders can take.
#[derive(Debug, Clone, Copy)]
pub struct Bindings<'a> {
    pub values: &'a BTreeMap<String, ParamValue>,
    /// Free loopback ports by name (`""` for `{port}`).
    pub ports: &'a BTreeMap<String, u16>,
    pub db: Option<&'a DbValues>,
}

impl Bindings<'_> {
    /// The value of one placeholder, if this cell has one.
    fn value(&self, name: &str) -> Option<String> {
        match Name::of(name).ok()? {
            Name::Value(key) => self.values.get(key).map(ToString::to_string),
            Name::Port(port) => self.ports.get(port.unwrap_or("")).map(ToString::to_string),
            Name::Db(field) => self.db?.get(field),
        }
    }

    /// `text` with every placeholder this cell has a value for replaced.
    pub fn render(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut from = 0;
        for p in placeholders(text) {
            if let Some(value) = self.value(p.name) {
                out.push_str(&text[from..p.offset]);
                out.push_str(&value);
                from = p.offset + p.name.len() + 2;
            }
        }
        out.push_str(&text[from..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_identifiers_in_braces_and_json_is_left_alone() {
        let found: Vec<&str> =
            placeholders(r#"/{route}?a={port.management}&{db.url} {"a": 1} {x y} {}"#)
                .iter()
                .map(|p| p.name)
                .collect();
        assert_eq!(found, ["route", "port.management", "db.url"]);
        assert_eq!(placeholders("{a.b.c}"), []);
    }

    #[test]
    fn names_are_values_ports_or_database_fields() {
        assert_eq!(Name::of("pool_size"), Ok(Name::Value("pool_size")));
        assert_eq!(Name::of("port"), Ok(Name::Port(None)));
        assert_eq!(Name::of("port.admin"), Ok(Name::Port(Some("admin"))));
        assert_eq!(Name::of("db.password"), Ok(Name::Db(DbField::Password)));
        assert!(
            Name::of("db.schema")
                .unwrap_err()
                .to_string()
                .contains("db.url, db.host")
        );
        assert!(
            Name::of("env.home")
                .unwrap_err()
                .to_string()
                .contains("no namespace")
        );
        assert!(
            DbField::Path.applies_to(Engine::Sqlite) && !DbField::Path.applies_to(Engine::Mysql)
        );
        assert!(
            DbField::Host.applies_to(Engine::Mysql) && !DbField::Host.applies_to(Engine::Sqlite)
        );
    }

    #[test]
    fn rendering_fills_in_values_ports_and_the_database() {
        let values = BTreeMap::from([("threads".to_owned(), ParamValue::Int(16))]);
        let ports = BTreeMap::from([(String::new(), 8080), ("management".to_owned(), 9090)]);
        let db = DbValues {
            url: "mysql://app:pw@127.0.0.1:3306/ps_x".into(),
            host: Some("127.0.0.1".into()),
            port: Some(3306),
            name: "ps_x".into(),
            user: Some("app".into()),
            password: Some("pw".into()),
            path: None,
            jdbc: "jdbc:mysql://127.0.0.1:3306/ps_x".into(),
        };
        let b = Bindings {
            values: &values,
            ports: &ports,
            db: Some(&db),
        };
        assert_eq!(
            b.render("--port={port} --admin={port.management} -t {threads} {db.user}@{db.host}:{db.port}/{db.name} {\"json\": 1}"),
            "--port=8080 --admin=9090 -t 16 app@127.0.0.1:3306/ps_x {\"json\": 1}"
        );
        assert_eq!(b.render("{db.jdbc}"), "jdbc:mysql://127.0.0.1:3306/ps_x");
        assert_eq!(
            b.render("{unknown}"),
            "{unknown}",
            "unknown names stay as written"
        );
    }
}
