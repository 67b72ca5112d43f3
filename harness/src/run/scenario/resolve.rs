//! Checking a scenario file and resolving it into a [`Scenario`]: every key against the
//! parameter catalog and the declared vars, every value against its kind, task templates,
//! rules (unknown names rejected at their column), then `[[cells]]` x `[matrix]` expanded in
//! declared order with `[quick]` and `--set` applied. Errors point at `file:line:col`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use toml::Spanned;

use super::file::{OneOrMany, RawScenario, RawTarget, Table};
use super::params::{self, Section};
use super::template::{Name, placeholders};
use super::{
    Backend, Cell, CommandSpec, DERIVED, Overrides, PoolFrom, PoolSpec, Pooler, Rule, Scenario,
    ScenarioError, StallSpec, TargetKind, TargetSpec, TaskTemplate,
};
use crate::base::expr::Expr;
use crate::base::param::{Kind, ParamValue};
use crate::observe::metrics::{self, Gauge, Mapping, Selector};

/// A `[target]` key, where it is written, and the kinds of target it belongs to.
type Misplaced<'a> = (&'a str, Option<Range<usize>>, &'a [TargetKind]);

/// How long a command target gets to answer its ready path.
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// A command target's URL when the scenario gives none.
pub(super) const DEFAULT_COMMAND_URL: &str = "http://127.0.0.1:{port}";
/// How long one scrape of `[pool]` metrics may take.
const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(1);
use crate::verdict::{Thresholds, Verdict};

/// Parses and checks `source` as if read from `path`.
pub(super) fn resolve(
    path: &Path,
    source: &str,
    overrides: &Overrides,
) -> Result<Scenario, ScenarioError> {
    let at = Locator { path, source };
    let raw: RawScenario = toml::from_str(source).map_err(|e| at.error(e.span(), e.message()))?;
    let pooled = raw
        .database
        .as_ref()
        .is_some_and(|d| d.get_ref().pooler.is_some());
    Resolver {
        at,
        overrides,
        pooled,
    }
    .resolve(raw, source)
}

/// Turns byte offsets into `file:line:col`.
struct Locator<'a> {
    path: &'a Path,
    source: &'a str,
}

impl Locator<'_> {
    fn position(&self, offset: usize) -> (usize, usize) {
        // An offset computed inside a string (a placeholder's) may fall within a character.
        let mut offset = offset.min(self.source.len());
        while !self.source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.source[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// `file:line:col` of `span`, or the file's name without one.
    fn location(&self, span: Option<Range<usize>>) -> String {
        match span {
            Some(span) => {
                let (line, col) = self.position(span.start);
                format!("{}:{line}:{col}", self.path.display())
            }
            None => self.path.display().to_string(),
        }
    }

    fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::new(self.location(span), message)
    }

    /// At `span`, `cause`, whose words are the message.
    fn caused(
        &self,
        span: Option<Range<usize>>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> ScenarioError {
        ScenarioError::caused(self.location(span), None, cause)
    }
}

struct Resolver<'a> {
    at: Locator<'a>,
    overrides: &'a Overrides,
    /// `[database] pooler` is set: pgbouncer's parameters apply.
    pooled: bool,
}

impl Resolver<'_> {
    fn error<T>(&self, span: Range<usize>, message: impl Into<String>) -> Result<T, ScenarioError> {
        Err(self.at.error(Some(span), message))
    }

    fn resolve(&self, raw: RawScenario, source: &str) -> Result<Scenario, ScenarioError> {
        let target = self.target(&raw)?;
        let backend = self.backend(&raw)?;
        let pooler = self.pooler(&raw, &backend)?;
        let kind = target.kind();
        let vars: Vec<String> = raw.vars.keys().map(|k| k.get_ref().clone()).collect();
        for key in raw.vars.keys() {
            if params::find_for(kind, key.get_ref()).is_some()
                || DERIVED.contains(&key.get_ref().as_str())
            {
                return self.error(
                    key.span(),
                    format!(
                        "var `{}` has the name of a parameter; choose another",
                        key.get_ref()
                    ),
                );
            }
        }

        // Effective values: defaults, then [app]/[load]/[vars], then [quick] under --quick.
        let mut base: BTreeMap<String, ParamValue> = params::for_target(kind)
            .filter(|p| p.section != Section::Pgbouncer || self.pooled)
            .filter_map(|p| Some((p.name.to_owned(), p.default_value()?)))
            .collect();
        self.apply_table(&raw.app, Some(Section::App), &vars, kind, &mut base)?;
        self.apply_table(&raw.load, Some(Section::Load), &vars, kind, &mut base)?;
        self.apply_table(
            &raw.pgbouncer,
            Some(Section::Pgbouncer),
            &vars,
            kind,
            &mut base,
        )?;
        for (key, value) in &raw.vars {
            let v = ParamValue::from_toml(value.get_ref())
                .map_err(|m| self.at.caused(Some(value.span()), m))?;
            base.insert(key.get_ref().clone(), v);
        }
        if self.overrides.quick {
            self.apply_table(&raw.quick, None, &vars, kind, &mut base)?;
        } else {
            self.check_table(&raw.quick, &vars, kind)?;
        }

        let ports = self.check_templates(&raw, &target, &backend, &vars)?;
        let secrets = self.secrets(&raw, &vars)?;
        let pool = self.pool(&raw)?;
        let cells = self.cells(&raw, &base, &vars, kind)?;
        let tasks = self.tasks(&raw)?;
        let stall = self.stall(&raw)?;
        let thresholds = self.thresholds(&raw)?;
        let rules = self.rules(&raw, &vars, kind)?;
        Ok(Scenario {
            path: self.at.path.to_owned(),
            name: raw.name.into_inner(),
            description: raw.description,
            source: source.to_owned(),
            target,
            backend,
            tasks,
            cells,
            stall,
            thresholds,
            rules,
            pool,
            ports,
            secrets,
            probe_database: raw
                .database
                .as_ref()
                .and_then(|d| d.get_ref().probe)
                .unwrap_or(true),
            pooler,
        })
    }

    /// `[database] pooler`: `"pgbouncer"`, in front of a PostgreSQL backend only.
    fn pooler(
        &self,
        raw: &RawScenario,
        backend: &Backend,
    ) -> Result<Option<Pooler>, ScenarioError> {
        let Some(name) = raw
            .database
            .as_ref()
            .and_then(|d| d.get_ref().pooler.as_ref())
        else {
            return Ok(None);
        };
        if name.get_ref() != "pgbouncer" {
            return self.error(
                name.span(),
                format!(
                    "unknown pooler `{}`; the pooler is pgbouncer",
                    name.get_ref()
                ),
            );
        }
        if backend.engine() != contract::Engine::Postgres {
            return self.error(
                name.span(),
                format!(
                    "pooler = \"pgbouncer\" sits in front of PostgreSQL, and this scenario's backend is {} ({}); use postgres-local, container:postgres or a postgres:// URL",
                    backend.name(),
                    backend.engine()
                ),
            );
        }
        Ok(Some(Pooler::Pgbouncer))
    }

    /// `secrets = [...]`: each a `[vars]` or `[target] env` key.
    fn secrets(&self, raw: &RawScenario, vars: &[String]) -> Result<Vec<String>, ScenarioError> {
        let env: Vec<&String> = raw
            .target
            .as_ref()
            .map(|t| t.get_ref().env.keys().collect())
            .unwrap_or_default();
        raw.secrets
            .iter()
            .map(|name| {
                let known = vars.contains(name.get_ref()) || env.contains(&name.get_ref());
                if known {
                    Ok(name.get_ref().clone())
                } else {
                    self.error(
                        name.span(),
                        format!(
                            "secrets lists `{}`, which is no [vars] or [target] env key",
                            name.get_ref()
                        ),
                    )
                }
            })
            .collect()
    }

    fn target(&self, raw: &RawScenario) -> Result<TargetSpec, ScenarioError> {
        let url_override = self
            .overrides
            .set
            .iter()
            .find(|(k, _)| k == "target.url")
            .map(|(_, v)| v.clone());
        let t = raw.target.as_ref().map(Spanned::get_ref);
        let written = t.and_then(|t| t.kind.as_ref());
        let span = written.map_or(0..0, Spanned::span);
        let kind = match written {
            None => TargetKind::Managed,
            Some(k) => k.get_ref().parse().map_err(|_| {
                self.at.error(
                    Some(k.span()),
                    format!(
                        "target.kind must be {}, got \"{}\"",
                        TargetKind::choices(),
                        k.get_ref()
                    ),
                )
            })?,
        };
        // Keys that belong to another kind of target.
        if let Some(t) = t {
            let misplaced: [Misplaced<'_>; 7] = [
                (
                    "url",
                    t.url.as_ref().map(Spanned::span),
                    &[TargetKind::External, TargetKind::Command],
                ),
                ("binary", None, &[TargetKind::Managed]),
                (
                    "command",
                    t.command.as_ref().map(Spanned::span),
                    &[TargetKind::Command],
                ),
                (
                    "cwd",
                    t.cwd.as_ref().map(Spanned::span),
                    &[TargetKind::Command],
                ),
                (
                    "ready",
                    t.ready.as_ref().map(Spanned::span),
                    &[TargetKind::Command],
                ),
                (
                    "ready_timeout",
                    t.ready_timeout.as_ref().map(Spanned::span),
                    &[TargetKind::Command],
                ),
                (
                    "setup",
                    t.setup.as_ref().map(Spanned::span),
                    &[TargetKind::Command],
                ),
            ];
            for (key, span, kinds) in misplaced {
                let present = span.is_some() || (key == "binary" && t.binary.is_some());
                if present && !kinds.contains(&kind) {
                    return Err(self.at.error(
                        span,
                        format!(
                            "target.{key} is for kind = {}; this target is {kind}",
                            kinds
                                .iter()
                                .map(|k| format!("\"{k}\""))
                                .collect::<Vec<_>>()
                                .join(" or ")
                        ),
                    ));
                }
            }
            if let Some((name, value)) = t.env.iter().next().filter(|_| kind != TargetKind::Command)
            {
                return self.error(
                    value.span(),
                    format!("target.env (`{name}`) is for kind = \"command\""),
                );
            }
        }
        if let Some(url) = url_override
            .as_ref()
            .filter(|_| kind != TargetKind::External)
        {
            return Err(ScenarioError::new(
                format!("--set target.url={url}"),
                format!(
                    "target.url is for scenarios with [target] kind = \"external\"; this one's target is {kind}"
                ),
            ));
        }
        match kind {
            TargetKind::Managed => Ok(TargetSpec::Managed {
                binary: t.and_then(|t| t.binary.as_ref()).map(PathBuf::from),
            }),
            TargetKind::External => {
                let written = t.and_then(|t| t.url.as_ref());
                let url = match (url_override, written) {
                    (Some(url), _) => url,
                    (None, Some(url)) => url.get_ref().clone(),
                    (None, None) => {
                        return self.error(span, "an external target needs url = \"http://...\"");
                    }
                };
                crate::engine::load::Target::parse(&url).map_err(|e| {
                    self.at
                        .error(written.map(Spanned::span), format!("target.url: {e}"))
                })?;
                Ok(TargetSpec::External { url })
            }
            // A kind was written, so [target] is there.
            TargetKind::Command => self.command(t.expect("a [target] table"), span),
        }
    }

    /// A `command` target; its templates are checked with the rest, once the names are known.
    fn command(&self, t: &RawTarget, span: Range<usize>) -> Result<TargetSpec, ScenarioError> {
        let command = match &t.command {
            Some(c) if !c.get_ref().is_empty() => {
                c.get_ref().iter().map(|a| a.get_ref().clone()).collect()
            }
            Some(c) => {
                return self.error(
                    c.span(),
                    "target.command needs the program and its arguments",
                );
            }
            None => {
                return self.error(
                    span,
                    "a command target needs command = [\"program\", \"arg\", ...]",
                );
            }
        };
        let folder = self
            .at
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let cwd = match &t.cwd {
            Some(cwd) => folder.join(cwd.get_ref()),
            None => folder.to_owned(),
        };
        // Canonical where it exists, so messages read examples/x, not scenarios/../examples/x.
        let cwd = std::fs::canonicalize(&cwd)
            .or_else(|_| std::path::absolute(&cwd))
            .unwrap_or(cwd);
        let ready_timeout = match &t.ready_timeout {
            Some(v) => {
                let text = Kind::Duration.normalize(v.get_ref()).map_err(|m| {
                    self.at
                        .error(Some(v.span()), format!("target.ready_timeout {m}"))
                })?;
                crate::base::human::parse_duration(&text.to_string())
                    .map_err(|m| self.at.caused(Some(v.span()), m))?
            }
            None => DEFAULT_READY_TIMEOUT,
        };
        Ok(TargetSpec::Command(CommandSpec {
            command,
            env: t
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                .collect(),
            cwd,
            ready: t
                .ready
                .as_ref()
                .map_or_else(|| "/".to_owned(), |r| r.get_ref().clone()),
            ready_timeout,
            url: t
                .url
                .as_ref()
                .map_or_else(|| DEFAULT_COMMAND_URL.to_owned(), |u| u.get_ref().clone()),
            setup: t.setup.as_ref().map(|s| s.get_ref().clone()),
        }))
    }

    /// `[pool]`: a URL and a mapping, from a preset and/or keys of its own.
    fn pool(&self, raw: &RawScenario) -> Result<Option<PoolSpec>, ScenarioError> {
        let Some(table) = &raw.pool else {
            return Ok(None);
        };
        let mut url = None;
        let mut preset_name = None;
        let mut mapping = Mapping::default();
        let mut timeout = DEFAULT_SCRAPE_TIMEOUT;
        let mut own = Vec::new();
        let text = |v: &Spanned<toml::Value>, key: &str| -> Result<String, ScenarioError> {
            v.get_ref().as_str().map(str::to_owned).ok_or_else(|| {
                self.at
                    .error(Some(v.span()), format!("pool.{key} must be a string"))
            })
        };
        if let Some((key, value)) = table
            .get_ref()
            .iter()
            .find(|(k, _)| k.get_ref() == "source")
        {
            let source = text(value, "source")?;
            if source != "pgbouncer" {
                return self.error(
                    value.span(),
                    format!("unknown pool source `{source}`; the source is pgbouncer (its admin console), or leave source out and give url"),
                );
            }
            if !self.pooled {
                return self.error(
                    key.span(),
                    "pool.source = \"pgbouncer\" reads the pgbouncer poolstorm starts: set [database] pooler = \"pgbouncer\"",
                );
            }
            if let Some((other, _)) = table
                .get_ref()
                .iter()
                .find(|(k, _)| !["source", "timeout"].contains(&k.get_ref().as_str()))
            {
                return self.error(
                    other.span(),
                    format!("pool.{} does not go with source = \"pgbouncer\", whose gauges are pgbouncer's own (SHOW POOLS)", other.get_ref()),
                );
            }
        }
        let mut from = PoolFrom::Metrics;
        for (key, value) in table.get_ref() {
            match key.get_ref().as_str() {
                "source" => from = PoolFrom::Pgbouncer,
                "url" => url = Some(text(value, "url")?),
                "preset" => {
                    let name = text(value, "preset")?;
                    let preset = metrics::preset(&name).ok_or_else(|| {
                        self.at.error(
                            Some(value.span()),
                            format!(
                                "unknown pool preset `{name}`; presets are {}",
                                metrics::PRESETS
                                    .iter()
                                    .map(|p| p.name)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    })?;
                    for (gauge, selector) in preset.mapping().gauges {
                        mapping.set(gauge, selector);
                    }
                    preset_name = Some(name);
                }
                "labels" => {
                    let table = value.get_ref().as_table().ok_or_else(|| {
                        self.at.error(
                            Some(value.span()),
                            "pool.labels is a table: labels = { pool = \"HikariPool-1\" }",
                        )
                    })?;
                    for (k, v) in table {
                        let v = v.as_str().ok_or_else(|| {
                            self.at.error(
                                Some(value.span()),
                                format!("pool.labels.{k} must be a string"),
                            )
                        })?;
                        mapping.labels.push((k.clone(), v.to_owned()));
                    }
                }
                "timeout" => {
                    let d = Kind::Duration.normalize(value.get_ref()).map_err(|m| {
                        self.at
                            .error(Some(value.span()), format!("pool.timeout {m}"))
                    })?;
                    timeout = crate::base::human::parse_duration(&d.to_string())
                        .map_err(|m| self.at.caused(Some(value.span()), m))?;
                }
                other => {
                    let Some(gauge) = Gauge::from_key(other) else {
                        return self.error(
                            key.span(),
                            format!(
                                "unknown [pool] key `{other}`; keys are url, preset, labels, timeout, source and the gauges {}",
                                Gauge::ALL.iter().map(|g| g.key()).collect::<Vec<_>>().join(", ")
                            ),
                        );
                    };
                    let selector = Selector::parse(&text(value, other)?).map_err(|m| {
                        self.at
                            .error(Some(value.span()), format!("pool.{other}: {m}"))
                    })?;
                    own.push((gauge, selector));
                }
            }
        }
        for (gauge, selector) in own {
            mapping.set(gauge, selector);
        }
        if from == PoolFrom::Pgbouncer {
            return Ok(Some(PoolSpec {
                from,
                url: String::new(),
                mapping,
                preset: None,
                timeout,
            }));
        }
        let Some(url) = url else {
            return self.error(table.span(), "[pool] needs url = \"http://...\" (or a path such as \"/metrics\" on the target's URL)");
        };
        if mapping.gauges.is_empty() {
            return self.error(
                table.span(),
                "[pool] reads nothing: give a preset or gauges such as in_use = \"metric_name\"",
            );
        }
        let json = mapping
            .gauges
            .iter()
            .filter(|(_, s)| matches!(s, Selector::Json(_)))
            .count();
        if json > 0 && json < mapping.gauges.len() {
            return self.error(
                table.span(),
                "[pool] mixes json: pointers with metric names; one source is either JSON or metrics",
            );
        }
        Ok(Some(PoolSpec {
            from,
            url,
            mapping,
            preset: preset_name,
            timeout,
        }))
    }

    /// Every placeholder of the scenario's templates names something a cell has; returns the
    /// names of the ports the cells need.
    fn check_templates(
        &self,
        raw: &RawScenario,
        target: &TargetSpec,
        backend: &Backend,
        vars: &[String],
    ) -> Result<Vec<String>, ScenarioError> {
        let kind = target.kind();
        let mut texts: Vec<(String, Option<Range<usize>>)> = Vec::new();
        if let Some(t) = raw.target.as_ref().map(Spanned::get_ref) {
            for arg in t.command.iter().flat_map(|c| c.get_ref()) {
                texts.push((arg.get_ref().clone(), Some(arg.span())));
            }
            for value in t.env.values() {
                texts.push((value.get_ref().clone(), Some(value.span())));
            }
            for field in [&t.url, &t.ready].into_iter().flatten() {
                texts.push((field.get_ref().clone(), Some(field.span())));
            }
        }
        if let TargetSpec::Command(c) = target
            && raw
                .target
                .as_ref()
                .is_none_or(|t| t.get_ref().url.is_none())
        {
            texts.push((c.url.clone(), None));
        }
        for task in &raw.tasks {
            let t = task.get_ref();
            texts.push((t.path.get_ref().clone(), Some(t.path.span())));
            if let Some(body) = &t.body {
                texts.push((body.get_ref().clone(), Some(body.span())));
            }
            for value in t.headers.values() {
                texts.push((value.clone(), Some(task.span())));
            }
        }
        if let Some(pool) = &raw.pool {
            for (key, value) in pool.get_ref() {
                if key.get_ref() == "url"
                    && let Some(url) = value.get_ref().as_str()
                {
                    texts.push((url.to_owned(), Some(value.span())));
                }
            }
        }
        let mut ports = std::collections::BTreeSet::new();
        for (text, span) in &texts {
            for p in placeholders(text) {
                let at = span.as_ref().map(|s| {
                    let offset = s.start + 1 + p.offset;
                    offset..offset
                });
                let fail = |message: String| Err(self.at.error(at.clone(), message));
                match Name::of(p.name) {
                    Err(cause) => return Err(self.at.caused(at.clone(), cause)),
                    Ok(Name::Value(key)) => {
                        let known =
                            vars.iter().any(|v| v == key) || params::find_for(kind, key).is_some();
                        if known {
                        } else if params::find(key).is_some() {
                            return fail(format!(
                                "`{{{key}}}` is a target-app flag, which no cell of a {kind} target sets; declare `{key}` in [vars]"
                            ));
                        } else {
                            let mut names: Vec<&str> =
                                params::for_target(kind).map(|p| p.name).collect();
                            names.extend(vars.iter().map(String::as_str));
                            return fail(format!(
                                "`{{{key}}}` names no parameter or var; known: {}",
                                names.join(", ")
                            ));
                        }
                    }
                    Ok(Name::Port(name)) => {
                        if kind != TargetKind::Command {
                            return fail(format!(
                                "`{{{}}}` is for command targets, which poolstorm starts on free ports",
                                p.name
                            ));
                        }
                        ports.insert(name.unwrap_or("").to_owned());
                    }
                    Ok(Name::Db(field)) => {
                        if kind != TargetKind::Command {
                            return fail(format!(
                                "`{{{}}}` is for command targets, which poolstorm gives a fresh database per cell",
                                p.name
                            ));
                        }
                        if !field.applies_to(backend.engine()) {
                            return fail(format!(
                                "`{{{}}}` has no value on this scenario's database backend, {} ({}); {{db.url}} and {{db.name}} work on every backend",
                                p.name,
                                backend.name(),
                                backend.engine()
                            ));
                        }
                    }
                }
            }
        }
        Ok(ports.into_iter().collect())
    }

    fn backend(&self, raw: &RawScenario) -> Result<Backend, ScenarioError> {
        if let Some(db) = &self.overrides.db {
            return Ok(db.clone());
        }
        let Some(db) = &raw.database else {
            return Ok(Backend::Sqlite);
        };
        let db = db.get_ref();
        match (db.backend.as_ref(), db.url.as_ref()) {
            (Some(b), Some(url)) if b.get_ref() == "url" => Backend::parse(url.get_ref())
                .ok()
                .filter(|b| matches!(b, Backend::Url(_)))
                .ok_or_else(|| {
                    self.at.error(
                        Some(url.span()),
                        "database.url must be mysql://USER:PASS@IP:PORT or postgres://USER:PASS@IP:PORT",
                    )
                }),
            (Some(b), None) if b.get_ref() == "url" => {
                self.error(b.span(), "backend = \"url\" needs database.url")
            }
            (Some(b), None) => {
                Backend::parse(b.get_ref()).map_err(|m| self.at.caused(Some(b.span()), m))
            }
            (Some(_), Some(url)) => {
                self.error(url.span(), "database.url goes with backend = \"url\"")
            }
            (None, Some(url)) => {
                Backend::parse(url.get_ref()).map_err(|m| self.at.caused(Some(url.span()), m))
            }
            (None, None) => Ok(Backend::Sqlite),
        }
    }

    /// Checks a table's keys and values, and sets them into `values`.
    fn apply_table(
        &self,
        table: &Table,
        section: Option<Section>,
        vars: &[String],
        kind: TargetKind,
        values: &mut BTreeMap<String, ParamValue>,
    ) -> Result<(), ScenarioError> {
        for (key, value) in table {
            let v = self.value(key, value, section, vars, kind)?;
            values.insert(key.get_ref().clone(), v);
        }
        Ok(())
    }

    fn check_table(
        &self,
        table: &Table,
        vars: &[String],
        kind: TargetKind,
    ) -> Result<(), ScenarioError> {
        let mut scratch = BTreeMap::new();
        self.apply_table(table, None, vars, kind, &mut scratch)
    }

    /// One `name = value`: the name must be a parameter (of `section`, when given) or a var.
    fn value(
        &self,
        key: &Spanned<String>,
        value: &Spanned<toml::Value>,
        section: Option<Section>,
        vars: &[String],
        kind: TargetKind,
    ) -> Result<ParamValue, ScenarioError> {
        let name = key.get_ref();
        if vars.contains(name) && section.is_none() {
            return ParamValue::from_toml(value.get_ref())
                .map_err(|m| self.at.caused(Some(value.span()), m));
        }
        let allowed = || -> String {
            params::for_target(kind)
                .filter(|p| section.is_none_or(|s| p.section == s))
                .map(|p| p.name)
                .chain(if section.is_none() {
                    vars.iter().map(String::as_str).collect()
                } else {
                    Vec::new()
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(param) = params::find(name).filter(|p| section.is_none_or(|s| p.section == s))
        else {
            return self.error(
                key.span(),
                format!("unknown parameter `{name}`; allowed: {}", allowed()),
            );
        };
        if param.section == Section::App && kind != TargetKind::Managed {
            return self.error(
                key.span(),
                format!(
                    "`{name}` is a target-app flag; a {kind} target takes [vars] and load parameters (declare `{name}` in [vars])"
                ),
            );
        }
        if param.section == Section::Pgbouncer && !self.pooled {
            return self.error(
                key.span(),
                format!(
                    "`{name}` is a pgbouncer setting; set [database] pooler = \"pgbouncer\" for poolstorm to start one"
                ),
            );
        }
        param
            .normalize(value.get_ref())
            .map_err(|m| self.at.caused(Some(value.span()), m))
    }

    /// `cells` (explicit) times `matrix` (cross product, first axis slowest), then `--set`.
    fn cells(
        &self,
        raw: &RawScenario,
        base: &BTreeMap<String, ParamValue>,
        vars: &[String],
        kind: TargetKind,
    ) -> Result<Vec<Cell>, ScenarioError> {
        let mut rows: Vec<IndexMap<String, ParamValue>> = Vec::new();
        if raw.cells.is_empty() {
            rows.push(IndexMap::new());
        }
        for cell in &raw.cells {
            let mut row = IndexMap::new();
            for (key, value) in cell.get_ref() {
                row.insert(
                    key.get_ref().clone(),
                    self.value(key, value, None, vars, kind)?,
                );
            }
            rows.push(row);
        }
        for (key, axis) in &raw.matrix {
            if axis.get_ref().is_empty() {
                return self.error(
                    axis.span(),
                    format!("matrix axis `{}` has no values", key.get_ref()),
                );
            }
            let values = axis
                .get_ref()
                .iter()
                .map(|v| self.value(key, v, None, vars, kind))
                .collect::<Result<Vec<_>, _>>()?;
            rows = rows
                .into_iter()
                .flat_map(|row| {
                    values.iter().map(move |v| {
                        let mut row = row.clone();
                        row.insert(key.get_ref().clone(), v.clone());
                        row
                    })
                })
                .collect();
        }
        let sets = self.sets(vars, kind)?;
        Ok(rows
            .into_iter()
            .enumerate()
            .map(|(i, mut varying)| {
                let mut values = base.clone();
                for (k, v) in &sets {
                    varying.shift_remove(k);
                    values.insert(k.clone(), v.clone());
                }
                values.extend(varying.iter().map(|(k, v)| (k.clone(), v.clone())));
                Cell {
                    index: i + 1,
                    varying,
                    values,
                }
            })
            .collect())
    }

    /// `--set name=value` pairs, checked (target.url is handled with the target).
    fn sets(
        &self,
        vars: &[String],
        kind: TargetKind,
    ) -> Result<Vec<(String, ParamValue)>, ScenarioError> {
        let mut out = Vec::new();
        for (key, text) in self.overrides.set.iter().filter(|(k, _)| k != "target.url") {
            let location = || format!("--set {key}={text}");
            let err = |message: String| ScenarioError::new(location(), message);
            let value = ParamValue::from_text(text);
            let parsed = if vars.contains(key) {
                ParamValue::from_toml(&value)
                    .map_err(|cause| ScenarioError::caused(location(), None, cause))?
            } else {
                let param = params::find(key).ok_or_else(|| {
                    let mut known: Vec<&str> = params::for_target(kind).map(|p| p.name).collect();
                    known.extend(vars.iter().map(String::as_str));
                    known.push("target.url");
                    err(format!(
                        "unknown parameter `{key}`; allowed: {}",
                        known.join(", ")
                    ))
                })?;
                if param.section == Section::App && kind != TargetKind::Managed {
                    return Err(err(format!(
                        "`{key}` is a target-app flag; the target is {kind}"
                    )));
                }
                if param.section == Section::Pgbouncer && !self.pooled {
                    return Err(err(format!(
                        "`{key}` is a pgbouncer setting and this scenario has no pooler"
                    )));
                }
                param
                    .normalize(&value)
                    .map_err(|cause| ScenarioError::caused(location(), None, cause))?
            };
            out.push((key.clone(), parsed));
        }
        Ok(out)
    }

    fn tasks(&self, raw: &RawScenario) -> Result<Vec<TaskTemplate>, ScenarioError> {
        if raw.tasks.is_empty() {
            return self.error(
                raw.name.span(),
                "a scenario needs at least one [[tasks]] entry",
            );
        }
        let mut tasks = Vec::new();
        for task in &raw.tasks {
            let t = task.get_ref();
            let method = t
                .method
                .as_ref()
                .map_or("GET".to_owned(), |m| m.get_ref().to_ascii_uppercase());
            let weight = match &t.weight {
                Some(w) if (1..=1_000_000).contains(w.get_ref()) => *w.get_ref() as u32,
                Some(w) => return self.error(w.span(), "weight must be from 1 to 1000000"),
                None => 1,
            };
            let body = match (&t.body, &t.json) {
                (Some(_), Some(j)) => return self.error(j.span(), "give body or json, not both"),
                (Some(b), None) => b.get_ref().clone(),
                (None, Some(j)) => serde_json::to_string(j.get_ref())
                    .or_else(|e| self.error(j.span(), e.to_string()))?,
                (None, None) => String::new(),
            };
            let headers: Vec<(String, String)> = t
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let template = TaskTemplate {
                name: t.name.clone(),
                method,
                path: t.path.get_ref().clone(),
                headers,
                body,
                weight,
            };
            let probe = crate::engine::load::TaskSpec::new(
                &template.method,
                &template.path,
                Vec::new(),
                Default::default(),
                1,
            );
            if let Err(e) = probe {
                return self.error(task.span(), e.to_string());
            }
            tasks.push(template);
        }
        Ok(tasks)
    }

    fn stall(&self, raw: &RawScenario) -> Result<StallSpec, ScenarioError> {
        let setting = crate::engine::load::settings::Key::StallWindow.setting();
        let window = match raw.stall.as_ref().and_then(|s| s.window.as_ref()) {
            Some(w) => setting
                .kind
                .normalize(w.get_ref())
                .map_err(|m| self.at.error(Some(w.span()), format!("stall.window {m}")))?,
            None => setting
                .default_value()
                .ok_or_else(|| self.at.error(None, "stall.window needs a value"))?,
        };
        let window = crate::base::human::parse_duration(&window.to_string())
            .map_err(|m| self.at.caused(None, m))?;
        Ok(StallSpec {
            window,
            stop_on_deadlock: raw
                .stall
                .as_ref()
                .and_then(|s| s.stop_on_deadlock)
                .unwrap_or(false),
        })
    }

    fn thresholds(&self, raw: &RawScenario) -> Result<Thresholds, ScenarioError> {
        let mut t = Thresholds::default();
        let Some(v) = &raw.verdict else { return Ok(t) };
        for (field, slot) in [
            (&v.healthy_max_error_ratio, &mut t.healthy_max_error_ratio),
            (
                &v.starved_min_pool_timeout_ratio,
                &mut t.starved_min_pool_timeout_ratio,
            ),
            (
                &v.deadlock_min_saturated_share,
                &mut t.deadlock_min_saturated_share,
            ),
        ] {
            if let Some(value) = field {
                if !(0.0..=1.0).contains(value.get_ref()) {
                    return self.error(value.span(), "a verdict threshold is a ratio from 0 to 1");
                }
                *slot = *value.get_ref();
            }
        }
        if let Some(ms) = &v.database_slow_ms {
            if ms.get_ref().partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                return self.error(ms.span(), "database_slow_ms is a time in ms above 0");
            }
            t.database_slow_ms = *ms.get_ref();
        }
        Ok(t)
    }

    fn rules(
        &self,
        raw: &RawScenario,
        vars: &[String],
        kind: TargetKind,
    ) -> Result<Vec<Rule>, ScenarioError> {
        let mut known: Vec<&str> = params::for_target(kind).map(|p| p.name).collect();
        known.extend(vars.iter().map(String::as_str));
        known.extend(DERIVED);
        let mut rules = Vec::new();
        for (i, e) in raw.expect.iter().enumerate() {
            let r = e.get_ref();
            let when = match &r.when {
                Some(text) => {
                    let parsed =
                        Expr::parse(text.get_ref()).and_then(|x| x.check_names(&known).map(|()| x));
                    Some(parsed.map_err(|err| {
                        // The string's column plus the expression's, past the opening quote.
                        let start = text.span().start + err.column;
                        self.at
                            .error(Some(start..start), format!("when: {}", err.message))
                    })?)
                }
                None => None,
            };
            let verdicts = match &r.verdict {
                None => Vec::new(),
                Some(v) => {
                    let list = match v.get_ref() {
                        OneOrMany::One(s) => vec![s.clone()],
                        OneOrMany::Many(l) => l.clone(),
                    };
                    list.iter()
                        .map(|s| Verdict::parse(s).map_err(|m| self.at.caused(Some(v.span()), m)))
                        .collect::<Result<_, _>>()?
                }
            };
            let checks = [
                r.max_p99_ms,
                r.max_timeout_ratio,
                r.max_error_ratio,
                r.min_ok_rps,
            ];
            if verdicts.is_empty() && checks.iter().all(Option::is_none) {
                return self.error(
                    e.span(),
                    "an [[expect]] needs something to check: verdict, max_p99_ms, max_timeout_ratio, max_error_ratio or min_ok_rps",
                );
            }
            let name = r.name.clone().unwrap_or_else(|| match &r.when {
                Some(w) => format!("expect {} when {}", i + 1, w.get_ref()),
                None => format!("expect {}", i + 1),
            });
            rules.push(Rule {
                name,
                when,
                verdicts,
                max_p99_ms: r.max_p99_ms,
                max_timeout_ratio: r.max_timeout_ratio,
                max_error_ratio: r.max_error_ratio,
                min_ok_rps: r.min_ok_rps,
            });
        }
        Ok(rules)
    }
}
