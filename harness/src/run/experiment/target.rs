//! The target of one cell, brought up: the external URL as it is, or a fresh service on the
//! cell's own database and free ports (target-app with the cell's flags, or the user's
//! command with its templates rendered), and where its pool is read from.

use std::collections::BTreeMap;

use super::Context;
use super::error::{CellError, MissingProgram, Problem};
use crate::observe::PoolSource;
use crate::observe::database::DbTarget;
use crate::run::app;
use crate::run::database::{CellDatabase, Pgbouncer, PoolerSettings};
use crate::run::scenario::params::{self, Section};
use crate::run::scenario::template::{Bindings, DbValues};
use crate::run::scenario::{Cell, CommandSpec, PoolFrom, Pooler, TargetSpec};
use crate::run::service::{Launch, Ready, Service, free_port};

/// How long after SIGTERM a command target is killed.
const COMMAND_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// target-app flags for a cell: every app parameter, defaults included.
pub fn app_flags(cell: &Cell) -> Vec<String> {
    params::all()
        .filter(|p| p.section == Section::App)
        .filter_map(|p| Some(p.flag(cell.get(p.name)?)))
        .flatten()
        .collect()
}

/// The cell's pgbouncer settings (every cell of a pooled scenario has them, defaults
/// included).
fn pooler_settings(cell: &Cell) -> PoolerSettings {
    let value = |name: &str| {
        cell.get(name)
            .cloned()
            .or_else(|| params::find(name)?.default_value())
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    PoolerSettings {
        pool_mode: value("pool_mode"),
        default_pool_size: value("default_pool_size").parse().unwrap_or(1),
    }
}

/// A cell's target, up and ready.
#[derive(Debug)]
pub(super) struct Up {
    pub(super) base_url: String,
    /// The service poolstorm started (none for an external target).
    pub(super) service: Option<Service>,
    /// The cell's database as poolstorm reaches it, past any pooler.
    pub(super) db: Option<CellDatabase>,
    /// The pgbouncer in front of it, when the scenario has one.
    pub(super) pooler: Option<Pgbouncer>,
    /// What the service's `{db.*}` templates take: the database, or the pooler in front.
    db_values: Option<DbValues>,
    ports: BTreeMap<String, u16>,
    /// What was started, for the report: target-app's flags or the command line.
    pub(super) command_line: Vec<String>,
}

impl Up {
    /// The cell's values for its templates.
    pub(super) fn bindings<'a>(&'a self, cell: &'a Cell) -> Bindings<'a> {
        Bindings {
            values: &cell.values,
            ports: &self.ports,
            db: self.db_values.as_ref(),
        }
    }

    /// The database poolstorm watches from its own connection: the cell's database, for a
    /// target poolstorm started on one.
    pub(super) fn db_target(&self) -> Option<DbTarget> {
        let db = self.db.as_ref()?;
        Some(match &db.file {
            Some(path) => DbTarget::Sqlite { path: path.clone() },
            None => DbTarget::Server {
                engine: db.engine(),
                url: db.url.clone(),
                database: db.values().name,
            },
        })
    }

    /// Where the pool is read from: `[pool]`, else target-app's `/debug/pool` for targets that
    /// may be target-app, else nowhere.
    pub(super) fn pool_source(&self, ctx: &Context<'_>, cell: &Cell) -> Option<PoolSource> {
        match (&ctx.scenario.pool, &ctx.scenario.target) {
            (Some(pool), _) if pool.from == PoolFrom::Pgbouncer => Some(PoolSource::Pgbouncer {
                admin_url: self.pooler.as_ref()?.admin_url(),
                database: self.db.as_ref()?.values().name,
                timeout: pool.timeout,
            }),
            (Some(pool), _) => {
                let url = self.bindings(cell).render(&pool.url);
                let url = if url.starts_with('/') {
                    format!("{}{url}", self.base_url.trim_end_matches('/'))
                } else {
                    url
                };
                Some(PoolSource::Metrics {
                    url,
                    mapping: pool.mapping.clone(),
                    preset: pool.preset.clone(),
                    timeout: pool.timeout,
                })
            }
            (None, TargetSpec::Managed { .. } | TargetSpec::External { .. }) => {
                Some(PoolSource::TargetApp {
                    base_url: self.base_url.clone(),
                })
            }
            (None, TargetSpec::Command(_)) => None,
        }
    }
}

/// Brings the cell's target up; the error says why it could not (with the log's last lines).
pub(super) async fn bring_up(
    ctx: &Context<'_>,
    cell: &Cell,
    log: &std::path::Path,
) -> Result<Up, CellError> {
    let scenario = ctx.scenario;
    let mut up = Up {
        base_url: String::new(),
        service: None,
        db: None,
        pooler: None,
        db_values: None,
        ports: BTreeMap::new(),
        command_line: Vec::new(),
    };
    if let TargetSpec::External { url } = &scenario.target {
        up.base_url = url.clone();
        return Ok(up);
    }
    let databases = ctx.databases.ok_or(CellError::NoBackend)?;
    let db = databases.for_cell(&scenario.name, cell.index).await?;
    for name in &scenario.ports {
        let port = free_port().map_err(CellError::Port)?;
        up.ports.insert(name.clone(), port);
    }
    if let Some(Pooler::Pgbouncer) = scenario.pooler {
        up.pooler = Some(Pgbouncer::start(&db, &pooler_settings(cell)).await?);
    }
    let reached = match &up.pooler {
        Some(pooler) => pooler.pooled(&db),
        None => db.clone(),
    };
    let values = reached.values();
    if let Some(password) = &values.password {
        ctx.redactor.add(password);
    }
    up.db_values = Some(values);
    let launch = match &scenario.target {
        TargetSpec::Managed { .. } => {
            let binary = ctx.binary.ok_or(CellError::NoBinary)?;
            let mut flags = app_flags(cell);
            up.command_line.clone_from(&flags);
            let url = match &up.pooler {
                Some(pooler) => pooler.target_app_url(&db),
                None => db.url.clone(),
            };
            flags.extend(["--database-url".to_owned(), url]);
            app::launch(binary, &flags, log)?
        }
        TargetSpec::Command(spec) => {
            let launch = command(spec, &up.bindings(cell), log)?;
            for (name, value) in &launch.env {
                if scenario.is_secret(name) {
                    ctx.redactor.add(value);
                }
            }
            up.command_line = std::iter::once(launch.program.clone())
                .chain(launch.args.iter().cloned())
                .collect();
            launch
        }
        TargetSpec::External { .. } => unreachable!("handled above"),
    };
    up.db = Some(db);
    let service = Service::start(&launch).await?;
    up.base_url = service.url();
    up.service = Some(service);
    Ok(up)
}

/// Checks, before any cell, that a command target's program is there to start (unless a
/// placeholder names it): a missing one is named, with `target.setup` when the scenario says
/// how to make it.
pub(super) fn check_program(spec: &CommandSpec) -> Result<(), MissingProgram> {
    use std::os::unix::fs::PermissionsExt as _;
    let program = &spec.command[0];
    if program.contains('{') {
        return Ok(());
    }
    let found = if program.contains('/') {
        Some(spec.cwd.join(program)).filter(|p| p.exists())
    } else {
        crate::base::local::which(&[program], &[])
    };
    let problem = match &found {
        None if program.contains('/') => {
            Problem::Missing(spec.cwd.join(program).display().to_string())
        }
        None => Problem::NotOnPath(program.clone()),
        Some(path) => match std::fs::metadata(path) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => return Ok(()),
            Ok(_) => Problem::NotExecutable(path.display().to_string()),
            Err(source) => Problem::Unreadable {
                path: path.display().to_string(),
                source,
            },
        },
    };
    Err(MissingProgram {
        problem,
        setup: spec.setup.clone(),
    })
}

/// A command target's launch, its templates rendered for the cell.
fn command(
    spec: &CommandSpec,
    b: &Bindings<'_>,
    log: &std::path::Path,
) -> Result<Launch, CellError> {
    let mut argv: Vec<String> = spec.command.iter().map(|a| b.render(a)).collect();
    // A relative program path (`.venv/bin/python`) is the cwd's, not poolstorm's.
    if argv[0].contains('/') && !argv[0].starts_with('/') {
        argv[0] = spec.cwd.join(&argv[0]).display().to_string();
    }
    let base_url = b.render(&spec.url);
    crate::engine::load::Target::parse(&base_url).map_err(CellError::CommandUrl)?;
    Ok(Launch {
        program: argv[0].clone(),
        args: argv[1..].to_vec(),
        env: spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), b.render(v)))
            .collect(),
        cwd: Some(spec.cwd.clone()),
        log: log.to_owned(),
        ready: Ready::Http {
            base_url,
            path: b.render(&spec.ready),
        },
        ready_timeout: spec.ready_timeout,
        grace: COMMAND_GRACE,
        run_as: None,
    })
}
