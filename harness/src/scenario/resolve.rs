//! Checking a scenario file and resolving it into a [`Scenario`]: every key against the
//! parameter catalog and the declared vars, every value against its kind, task templates,
//! rules (unknown names rejected at their column), then `[[cells]]` x `[matrix]` expanded in
//! declared order with `[quick]` and `--set` applied. Errors point at `file:line:col`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use toml::Spanned;

use super::file::{OneOrMany, RawScenario, Table};
use super::params::{self, Section};
use super::{
    Backend, Cell, DERIVED, Overrides, Rule, Scenario, ScenarioError, StallSpec, TargetSpec,
    TaskTemplate, placeholders,
};
use crate::expr::Expr;
use crate::param::ParamValue;
use crate::verdict::{Thresholds, Verdict};

/// Parses and checks `source` as if read from `path`.
pub(super) fn resolve(
    path: &Path,
    source: &str,
    overrides: &Overrides,
) -> Result<Scenario, ScenarioError> {
    let at = Locator { path, source };
    let raw: RawScenario = toml::from_str(source).map_err(|e| at.error(e.span(), e.message()))?;
    Resolver { at, overrides }.resolve(raw, source)
}

/// Turns byte offsets into `file:line:col`.
struct Locator<'a> {
    path: &'a Path,
    source: &'a str,
}

impl Locator<'_> {
    fn position(&self, offset: usize) -> (usize, usize) {
        let before = &self.source[..offset.min(self.source.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ScenarioError {
        let location = match span {
            Some(span) => {
                let (line, col) = self.position(span.start);
                format!("{}:{line}:{col}", self.path.display())
            }
            None => self.path.display().to_string(),
        };
        ScenarioError {
            location,
            message: message.into(),
        }
    }
}

struct Resolver<'a> {
    at: Locator<'a>,
    overrides: &'a Overrides,
}

impl Resolver<'_> {
    fn error<T>(&self, span: Range<usize>, message: impl Into<String>) -> Result<T, ScenarioError> {
        Err(self.at.error(Some(span), message))
    }

    fn resolve(&self, raw: RawScenario, source: &str) -> Result<Scenario, ScenarioError> {
        let target = self.target(&raw)?;
        let backend = self.backend(&raw)?;
        let vars: Vec<String> = raw.vars.keys().map(|k| k.get_ref().clone()).collect();
        for key in raw.vars.keys() {
            if params::find(key.get_ref()).is_some() || DERIVED.contains(&key.get_ref().as_str()) {
                return self.error(
                    key.span(),
                    format!(
                        "var `{}` has the name of a parameter; choose another",
                        key.get_ref()
                    ),
                );
            }
        }
        let managed = matches!(target, TargetSpec::Managed { .. });

        // Effective values: defaults, then [app]/[load]/[vars], then [quick] under --quick.
        let mut base: BTreeMap<String, ParamValue> = params::all()
            .filter_map(|p| Some((p.name.to_owned(), p.default_value()?)))
            .collect();
        self.apply_table(&raw.app, Some(Section::App), &vars, managed, &mut base)?;
        self.apply_table(&raw.load, Some(Section::Load), &vars, managed, &mut base)?;
        for (key, value) in &raw.vars {
            let v =
                ParamValue::from_toml(value.get_ref()).or_else(|m| self.error(value.span(), m))?;
            base.insert(key.get_ref().clone(), v);
        }
        if self.overrides.quick {
            self.apply_table(&raw.quick, None, &vars, managed, &mut base)?;
        } else {
            self.check_table(&raw.quick, &vars, managed)?;
        }

        let cells = self.cells(&raw, &base, &vars, managed)?;
        let tasks = self.tasks(&raw, &vars)?;
        let stall = self.stall(&raw)?;
        let thresholds = self.thresholds(&raw)?;
        let rules = self.rules(&raw, &vars)?;
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
        })
    }

    fn target(&self, raw: &RawScenario) -> Result<TargetSpec, ScenarioError> {
        let url_override = self
            .overrides
            .set
            .iter()
            .find(|(k, _)| k == "target.url")
            .map(|(_, v)| v.clone());
        let t = raw.target.as_ref().map(Spanned::get_ref);
        let kind = t
            .and_then(|t| t.kind.as_ref())
            .map(|k| (k.get_ref().as_str(), k.span()));
        match kind {
            None | Some(("managed", _)) => {
                if let Some(url) = url_override {
                    return Err(ScenarioError {
                        location: format!("--set target.url={url}"),
                        message: "target.url is for scenarios with [target] kind = \"external\"; this one manages target-app".to_owned(),
                    });
                }
                if let Some(url) = t.and_then(|t| t.url.as_ref()) {
                    return self.error(url.span(), "target.url is for kind = \"external\"");
                }
                Ok(TargetSpec::Managed {
                    binary: t.and_then(|t| t.binary.as_ref()).map(PathBuf::from),
                })
            }
            Some(("external", span)) => {
                let written = t.and_then(|t| t.url.as_ref());
                let url = match (url_override, written) {
                    (Some(url), _) => url,
                    (None, Some(url)) => url.get_ref().clone(),
                    (None, None) => {
                        return self.error(span, "an external target needs url = \"http://...\"");
                    }
                };
                crate::load::Target::parse(&url).map_err(|e| {
                    self.at
                        .error(written.map(Spanned::span), format!("target.url: {e}"))
                })?;
                Ok(TargetSpec::External { url })
            }
            Some((other, span)) => self.error(
                span,
                format!("target.kind must be \"managed\" or \"external\", got \"{other}\""),
            ),
        }
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
                        "database.url must be mysql://USER:PASS@IP:PORT",
                    )
                }),
            (Some(b), None) if b.get_ref() == "url" => {
                self.error(b.span(), "backend = \"url\" needs database.url")
            }
            (Some(b), None) => Backend::parse(b.get_ref()).or_else(|m| self.error(b.span(), m)),
            (Some(_), Some(url)) => {
                self.error(url.span(), "database.url goes with backend = \"url\"")
            }
            (None, Some(url)) => {
                Backend::parse(url.get_ref()).or_else(|m| self.error(url.span(), m))
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
        managed: bool,
        values: &mut BTreeMap<String, ParamValue>,
    ) -> Result<(), ScenarioError> {
        for (key, value) in table {
            let v = self.value(key, value, section, vars, managed)?;
            values.insert(key.get_ref().clone(), v);
        }
        Ok(())
    }

    fn check_table(
        &self,
        table: &Table,
        vars: &[String],
        managed: bool,
    ) -> Result<(), ScenarioError> {
        let mut scratch = BTreeMap::new();
        self.apply_table(table, None, vars, managed, &mut scratch)
    }

    /// One `name = value`: the name must be a parameter (of `section`, when given) or a var.
    fn value(
        &self,
        key: &Spanned<String>,
        value: &Spanned<toml::Value>,
        section: Option<Section>,
        vars: &[String],
        managed: bool,
    ) -> Result<ParamValue, ScenarioError> {
        let name = key.get_ref();
        if vars.contains(name) && section.is_none() {
            return ParamValue::from_toml(value.get_ref()).or_else(|m| self.error(value.span(), m));
        }
        let allowed = || -> String {
            params::all()
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
        if param.section == Section::App && !managed {
            return self.error(
                key.span(),
                format!(
                    "`{name}` is a target-app flag; an external target takes load parameters only"
                ),
            );
        }
        param
            .normalize(value.get_ref())
            .or_else(|m| self.error(value.span(), m))
    }

    /// `cells` (explicit) times `matrix` (cross product, first axis slowest), then `--set`.
    fn cells(
        &self,
        raw: &RawScenario,
        base: &BTreeMap<String, ParamValue>,
        vars: &[String],
        managed: bool,
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
                    self.value(key, value, None, vars, managed)?,
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
                .map(|v| self.value(key, v, None, vars, managed))
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
        let sets = self.sets(vars, managed)?;
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
        managed: bool,
    ) -> Result<Vec<(String, ParamValue)>, ScenarioError> {
        let mut out = Vec::new();
        for (key, text) in self.overrides.set.iter().filter(|(k, _)| k != "target.url") {
            let err = |message: String| ScenarioError {
                location: format!("--set {key}={text}"),
                message,
            };
            let value = ParamValue::from_text(text);
            let parsed = if vars.contains(key) {
                ParamValue::from_toml(&value).map_err(err)?
            } else {
                let param = params::find(key).ok_or_else(|| {
                    let mut known = params::names();
                    known.extend(vars.iter().map(String::as_str));
                    known.push("target.url");
                    err(format!(
                        "unknown parameter `{key}`; allowed: {}",
                        known.join(", ")
                    ))
                })?;
                if param.section == Section::App && !managed {
                    return Err(err(format!(
                        "`{key}` is a target-app flag; the target is external"
                    )));
                }
                param.normalize(&value).map_err(err)?
            };
            out.push((key.clone(), parsed));
        }
        Ok(out)
    }

    fn tasks(
        &self,
        raw: &RawScenario,
        vars: &[String],
    ) -> Result<Vec<TaskTemplate>, ScenarioError> {
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
            let texts = std::iter::once(&template.path)
                .chain(std::iter::once(&template.body))
                .chain(template.headers.iter().map(|(_, v)| v));
            for text in texts {
                for name in placeholders(text) {
                    if params::find(name).is_none() && !vars.iter().any(|v| v == name) {
                        return self.error(
                            task.span(),
                            format!("`{{{name}}}` names no parameter or var"),
                        );
                    }
                }
            }
            let probe = crate::load::TaskSpec::new(
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
        let setting = crate::load::settings::find("stall_window").expect("a load setting");
        let window = match raw.stall.as_ref().and_then(|s| s.window.as_ref()) {
            Some(w) => setting
                .kind
                .normalize(w.get_ref())
                .map_err(|m| self.at.error(Some(w.span()), format!("stall.window {m}")))?,
            None => setting.default_value().expect("stall_window has a default"),
        };
        let window = crate::human::parse_duration(&window.to_string())
            .map_err(|m| self.at.error(None, m))?;
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
        Ok(t)
    }

    fn rules(&self, raw: &RawScenario, vars: &[String]) -> Result<Vec<Rule>, ScenarioError> {
        let mut known: Vec<&str> = params::names();
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
                        .map(|s| s.parse::<Verdict>().or_else(|m| self.error(v.span(), m)))
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
