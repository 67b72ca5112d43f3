use std::path::Path;

use super::*;

fn parse_with(text: &str, overrides: &Overrides) -> Result<Scenario, ScenarioError> {
    parse(Path::new("t.toml"), text, overrides)
}

fn parse_text(text: &str) -> Result<Scenario, ScenarioError> {
    parse_with(text, &Overrides::default())
}

const BASE: &str = r#"
name = "t"
[app]
threads = 8
[load]
users = 4
duration = "5s"
[[tasks]]
path = "/mode1/{route}"
[vars]
route = "dependency"
"#;

#[test]
fn cells_then_matrix_expand_in_declared_order_first_axis_slowest() {
    let text = format!(
        "{BASE}\n[[cells]]\nroute = \"dependency\"\n[[cells]]\nroute = \"async\"\n[matrix]\npool_max = [2, 4]\nteardown = [\"shared\", \"separate\"]\n"
    );
    let s = parse_text(&text).unwrap();
    let labels: Vec<String> = s.cells.iter().map(Cell::label).collect();
    assert_eq!(
        labels,
        [
            "route=dependency,pool_max=2,teardown=shared",
            "route=dependency,pool_max=2,teardown=separate",
            "route=dependency,pool_max=4,teardown=shared",
            "route=dependency,pool_max=4,teardown=separate",
            "route=async,pool_max=2,teardown=shared",
            "route=async,pool_max=2,teardown=separate",
            "route=async,pool_max=4,teardown=shared",
            "route=async,pool_max=4,teardown=separate",
        ]
    );
    assert_eq!(s.cells[5].index, 6);
    assert_eq!(
        s.cells[5].slug(),
        "06-route-async_pool_max-2_teardown-separate"
    );
    assert_eq!(s.cells[0].get("threads"), Some(&ParamValue::Int(8)));
    assert_eq!(
        s.cells[0].get("hold_ms"),
        Some(&ParamValue::Int(1000)),
        "target-app's default"
    );
    let ports = std::collections::BTreeMap::new();
    let bindings = template::Bindings {
        values: &s.cells[4].values,
        ports: &ports,
        db: None,
    };
    assert_eq!(bindings.render("/mode1/{route}"), "/mode1/async");
}

#[test]
fn matrix_axes_keep_the_order_written_even_when_it_is_not_alphabetical() {
    let text = format!("{BASE}\n[matrix]\nthreads = [4, 8]\npool_max = [2, 4]\n");
    let labels: Vec<String> = parse_text(&text)
        .unwrap()
        .cells
        .iter()
        .map(Cell::label)
        .collect();
    assert_eq!(
        labels,
        [
            "threads=4,pool_max=2",
            "threads=4,pool_max=4",
            "threads=8,pool_max=2",
            "threads=8,pool_max=4"
        ]
    );
}

#[test]
fn errors_point_at_file_line_and_column_with_the_allowed_values() {
    let e = parse_text(&BASE.replace("threads = 8", "threads = 8\ncolour = 3")).unwrap_err();
    assert_eq!(e.location, "t.toml:5:1");
    assert!(
        e.message
            .contains("unknown parameter `colour`; allowed: threads, pool_max"),
        "{}",
        e.message
    );
    let e = parse_text(&format!(
        "{BASE}\n[matrix]\nteardown = [\"shared\", \"later\"]\n"
    ))
    .unwrap_err();
    assert_eq!(e.location, "t.toml:14:23", "the value's opening quote");
    assert!(
        e.message.contains("one of shared, separate, inline"),
        "{}",
        e.message
    );
    let e = parse_text(&BASE.replace("[load]", "[load]\nthreads = 2")).unwrap_err();
    assert!(
        e.message
            .contains("unknown parameter `threads`; allowed: users"),
        "app flags belong in [app]: {}",
        e.message
    );
    let e = parse_text(&BASE.replace("name = \"t\"", "name = \"t\"\nbogus = 1")).unwrap_err();
    assert!(e.location.starts_with("t.toml:3:"), "{e}");
    assert!(e.message.contains("unknown field `bogus`"), "{}", e.message);
}

#[test]
fn rules_reject_unknown_names_at_their_column() {
    let text = format!(
        "{BASE}\n[[expect]]\nwhen = \"pool_max >= treads * (cm - 1) + 1\"\nverdict = \"healthy\"\n"
    );
    let e = parse_text(&text).unwrap_err();
    assert_eq!(e.location, "t.toml:14:21", "where `treads` starts");
    assert!(e.message.contains("unknown name `treads`"), "{}", e.message);
    let text = format!("{BASE}\n[[expect]]\nverdict = \"stuck\"\n");
    assert!(
        parse_text(&text)
            .unwrap_err()
            .message
            .contains("unknown verdict `stuck`")
    );
    let text = format!("{BASE}\n[[expect]]\nwhen = \"true\"\n");
    assert!(
        parse_text(&text)
            .unwrap_err()
            .message
            .contains("needs something to check")
    );
}

#[test]
fn rules_see_parameters_vars_and_derived_names() {
    let text = format!(
        "{BASE}\n[matrix]\npool_max = [16, 17]\n[[expect]]\nwhen = 'pool_max >= threads * (cm - 1) + 1 && route == \"dependency\" && engine == \"sqlite\"'\nverdict = [\"healthy\", \"degraded\"]\n"
    );
    let s = parse_text(&text.replace("threads = 8", "threads = 16")).unwrap();
    let rule = &s.rules[0];
    let holds: Vec<bool> = s
        .cells
        .iter()
        .map(|c| {
            rule.when
                .as_ref()
                .unwrap()
                .holds(&|n| s.lookup(c, n))
                .unwrap()
        })
        .collect();
    assert_eq!(
        holds,
        [false, true],
        "table ids: cm = 2, so 16 x 1 + 1 = 17"
    );
    assert_eq!(rule.verdicts, [Verdict::Healthy, Verdict::Degraded]);
}

#[test]
fn set_overrides_every_cell_and_collapses_its_axis() {
    let text = format!("{BASE}\n[matrix]\npool_max = [2, 4]\n");
    let overrides = Overrides {
        set: vec![
            ("pool_max".into(), "9".into()),
            ("users".into(), "7".into()),
        ],
        ..Overrides::default()
    };
    let s = parse_with(&text, &overrides).unwrap();
    assert!(
        s.cells
            .iter()
            .all(|c| c.get("pool_max") == Some(&ParamValue::Int(9)) && c.varying.is_empty())
    );
    assert_eq!(s.cells[0].get("users"), Some(&ParamValue::Int(7)));
    let bad = Overrides {
        set: vec![("pool_mx".into(), "9".into())],
        ..Overrides::default()
    };
    let e = parse_with(&text, &bad).unwrap_err();
    assert_eq!(e.location, "--set pool_mx=9");
    assert!(e.message.contains("unknown parameter `pool_mx`"));
}

#[test]
fn quick_values_apply_only_with_quick() {
    let text = format!("{BASE}\n[quick]\nduration = \"2s\"\n");
    assert_eq!(
        parse_text(&text).unwrap().cells[0].get("duration"),
        Some(&ParamValue::Text("5s".into()))
    );
    let quick = Overrides {
        quick: true,
        ..Overrides::default()
    };
    assert_eq!(
        parse_with(&text, &quick).unwrap().cells[0].get("duration"),
        Some(&ParamValue::Text("2s".into()))
    );
}

#[test]
fn external_targets_take_no_app_flags_and_templates_need_known_names() {
    let text = BASE.replace(
        "name = \"t\"",
        "name = \"t\"\n[target]\nkind = \"external\"\nurl = \"http://127.0.0.1:9/\"",
    );
    assert!(
        parse_text(&text)
            .unwrap_err()
            .message
            .contains("is a target-app flag")
    );
    let e = parse_text(&BASE.replace("/mode1/{route}", "/mode1/{rout}")).unwrap_err();
    assert!(
        e.message.contains("`{rout}` names no parameter or var"),
        "{}",
        e.message
    );
    let names: Vec<&str> = template::placeholders(r#"{"title": "{route}"}"#)
        .iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["route"], "JSON braces are not placeholders");
}

#[test]
fn database_backends_parse_and_unknown_ones_list_the_choices() {
    let text = BASE.replace(
        "name = \"t\"",
        "name = \"t\"\n[database]\nbackend = \"oracle\"",
    );
    let e = parse_text(&text).unwrap_err();
    assert!(
        e.message
            .contains("use sqlite, mariadb-local, postgres-local, container (MySQL), container:postgres, or a mysql://"),
        "{}",
        e.message
    );
    use contract::Engine;
    for (text, backend, engine) in [
        ("postgres-local", Backend::PostgresLocal, Engine::Postgres),
        (
            "container",
            Backend::Container(Engine::Mysql),
            Engine::Mysql,
        ),
        (
            "container:postgres",
            Backend::Container(Engine::Postgres),
            Engine::Postgres,
        ),
        (
            "postgres://app@127.0.0.1:5432",
            Backend::Url("postgres://app@127.0.0.1:5432".into()),
            Engine::Postgres,
        ),
        (
            "postgresql://app@127.0.0.1",
            Backend::Url("postgresql://app@127.0.0.1".into()),
            Engine::Postgres,
        ),
    ] {
        let parsed = Backend::parse(text).unwrap();
        assert_eq!((&parsed, parsed.engine()), (&backend, engine), "{text}");
    }
    assert!(
        Backend::parse("sqlite:///x.db").is_err(),
        "sqlite is a backend, not a URL"
    );
    let text = BASE.replace(
        "name = \"t\"",
        "name = \"t\"\n[database]\nbackend = \"url\"\nurl = \"mysql://root@127.0.0.1:3306\"",
    );
    assert_eq!(
        parse_text(&text).unwrap().backend,
        Backend::Url("mysql://root@127.0.0.1:3306".into())
    );
}

#[test]
fn the_database_probe_is_on_unless_turned_off_and_its_slow_threshold_is_checked() {
    assert!(parse_text(BASE).unwrap().probe_database);
    let off = BASE.replace("name = \"t\"", "name = \"t\"\n[database]\nprobe = false");
    assert!(!parse_text(&off).unwrap().probe_database);
    let slow = format!("{BASE}\n[verdict]\ndatabase_slow_ms = 250\n");
    assert_eq!(
        parse_text(&slow).unwrap().thresholds.database_slow_ms,
        250.0
    );
    let zero = format!("{BASE}\n[verdict]\ndatabase_slow_ms = 0.0\n");
    let e = parse_text(&zero).unwrap_err();
    assert!(
        e.to_string().contains("t.toml:")
            && e.message
                .contains("database_slow_ms is a time in ms above 0"),
        "{e}"
    );
}

#[test]
fn target_url_overrides_only_external_targets() {
    let set = Overrides {
        set: vec![("target.url".into(), "http://127.0.0.1:1/".into())],
        ..Overrides::default()
    };
    let e = parse_with(BASE, &set).unwrap_err();
    assert!(
        e.message.contains("this one's target is managed"),
        "{}",
        e.message
    );
    let external = BASE
        .replace(
            "name = \"t\"",
            "name = \"t\"\n[target]\nkind = \"external\"\nurl = \"http://127.0.0.1:9/\"",
        )
        .replace("[app]\nthreads = 8\n", "");
    let s = parse_with(&external, &set).unwrap();
    assert_eq!(
        s.target,
        TargetSpec::External {
            url: "http://127.0.0.1:1/".into()
        }
    );
}

const COMMAND: &str = r#"
name = "mine"
[target]
kind = "command"
command = ["java", "-jar", "app.jar", "--port={port}", "--management={port.management}", "--pool={pool_size}"]
env = { DB_URL = "{db.url}", THREADS = "{threads}" }
cwd = "service"
ready = "/actuator/health"
ready_timeout = "90s"
[vars]
pool_size = 10
threads = 16
[load]
users = 16
[[tasks]]
method = "POST"
path = "/orders?pool={pool_size}"
[matrix]
pool_size = [10, 17]
[pool]
url = "http://127.0.0.1:{port.management}/actuator/prometheus"
preset = "hikaricp"
labels = { pool = "HikariPool-1" }
"#;

#[test]
fn a_command_target_takes_vars_ports_and_its_database_in_templates() {
    let s = parse_with(COMMAND, &Overrides::default()).unwrap();
    let TargetSpec::Command(c) = &s.target else {
        panic!("a command target: {:?}", s.target)
    };
    assert_eq!(c.command[3], "--port={port}");
    assert_eq!(c.env[0], ("DB_URL".to_owned(), "{db.url}".to_owned()));
    assert!(
        c.cwd.ends_with("service") && c.cwd.is_absolute(),
        "{:?}",
        c.cwd
    );
    assert_eq!(c.ready_timeout, std::time::Duration::from_secs(90));
    assert_eq!(c.url, "http://127.0.0.1:{port}");
    assert_eq!(s.ports, ["", "management"]);
    assert_eq!(s.cells.len(), 2);
    assert_eq!(s.cells[1].get("pool_size"), Some(&ParamValue::Int(17)));
    let pool = s.pool.as_ref().unwrap();
    assert_eq!(pool.preset.as_deref(), Some("hikaricp"));
    assert_eq!(
        pool.mapping.labels,
        [("pool".to_owned(), "HikariPool-1".to_owned())]
    );
    // --set works on vars as on target-app's flags.
    let set = Overrides {
        set: vec![("pool_size".into(), "24".into())],
        ..Overrides::default()
    };
    let s = parse_with(COMMAND, &set).unwrap();
    assert!(
        s.cells
            .iter()
            .all(|c| c.get("pool_size") == Some(&ParamValue::Int(24)) && c.varying.is_empty())
    );
}

/// The error for `COMMAND` with `from` replaced by `to`, as `line:col: message`.
fn command_error(from: &str, to: &str, overrides: &Overrides) -> String {
    assert!(COMMAND.contains(from), "{from}");
    let e = parse_with(&COMMAND.replace(from, to), overrides).unwrap_err();
    format!(
        "{}: {}",
        e.location.trim_start_matches("t.toml:"),
        e.message
    )
}

#[test]
fn every_placeholder_error_points_at_its_line_and_column() {
    let plain = Overrides::default();
    let cases: &[(&str, &str, &str)] = &[
        (
            "--pool={pool_size}",
            "--pool={pool_sise}",
            "5:98: `{pool_sise}` names no parameter or var",
        ),
        (
            "{db.url}",
            "{db.schema}",
            "6:19: `{db.schema}` is no database field",
        ),
        (
            "{db.url}",
            "{env.home}",
            "6:19: `{env.home}`: `env.` is no namespace",
        ),
        (
            "--pool={pool_size}",
            "--pool={pool_max}",
            "5:98: `{pool_max}` is a target-app flag, which no cell of a command target sets",
        ),
        (
            "{db.url}",
            "{db.host}",
            "6:19: `{db.host}` has no value on this scenario's database backend, sqlite",
        ),
        (
            "/orders?pool={pool_size}",
            "/orders?pool={nope}",
            "17:22: `{nope}` names no parameter or var",
        ),
        (
            "prometheus\"\npreset",
            "{oops}\"\npreset",
            "21:52: `{oops}` names no parameter or var",
        ),
    ];
    for (from, to, want) in cases {
        let got = command_error(from, to, &plain);
        assert!(
            got.starts_with(want),
            "{from} -> {to}: got `{got}`, want `{want}`"
        );
    }
    let mysql = Overrides {
        db: Some(Backend::MariadbLocal),
        ..Overrides::default()
    };
    let got = command_error("{db.url}", "{db.path}", &mysql);
    assert!(
        got.contains("`{db.path}` has no value on this scenario's database backend, mariadb-local"),
        "{got}"
    );
    assert!(parse_with(&COMMAND.replace("{db.url}", "{db.password}"), &mysql).is_ok());
}

#[test]
fn command_target_mistakes_name_their_key() {
    let plain = Overrides::default();
    let cases: &[(&str, &str, &str)] = &[
        (
            "[matrix]\npool_size = [10, 17]",
            "[matrix]\npool_max = [10, 17]",
            "19:1: `pool_max` is a target-app flag; a command target takes [vars] and load parameters",
        ),
        (
            "preset = \"hikaricp\"",
            "preset = \"hikari\"",
            "22:10: unknown pool preset `hikari`; presets are hikaricp, go-sql, pgbouncer, target-app",
        ),
        ("labels =", "lables =", "23:1: unknown [pool] key `lables`"),
        (
            "preset = \"hikaricp\"",
            "in_use = \"json:/a\"\nmax = \"m\"",
            "[pool] mixes json: pointers with metric names",
        ),
        (
            "ready_timeout = \"90s\"",
            "ready_timeout = \"soon\"",
            "9:17: target.ready_timeout",
        ),
        (
            "kind = \"command\"",
            "kind = \"cmd\"",
            "4:8: target.kind must be \"managed\", \"external\" or \"command\"",
        ),
    ];
    for (from, to, want) in cases {
        let got = command_error(from, to, &plain);
        assert!(
            got.contains(want),
            "{from} -> {to}: got `{got}`, want `{want}`"
        );
    }
    let line = COMMAND
        .lines()
        .find(|l| l.starts_with("command = "))
        .unwrap();
    let e = parse_text(&COMMAND.replace(line, "command = []")).unwrap_err();
    assert_eq!(
        (e.location.as_str(), e.message.as_str()),
        (
            "t.toml:5:11",
            "target.command needs the program and its arguments"
        )
    );
    let e = parse_text(&format!("{BASE}\n[target]\nkind = \"external\"\nurl = \"http://127.0.0.1:1\"\nenv = {{ A = \"b\" }}\n")).unwrap_err();
    assert!(
        e.message
            .contains("target.env (`A`) is for kind = \"command\""),
        "{}",
        e.message
    );
    let e = parse_text(&format!("{BASE}\n[target]\ncommand = [\"x\"]\n")).unwrap_err();
    assert!(
        e.message
            .contains("target.command is for kind = \"command\"; this target is managed"),
        "{}",
        e.message
    );
    let e = parse_text(&BASE.replace("/mode1/{route}", "/mode1/{port}")).unwrap_err();
    assert!(
        e.message.contains("is for command targets"),
        "{}",
        e.message
    );
}

mod properties {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use super::*;

    /// Scenario-like text: lines from a scenario's own vocabulary, shuffled and broken, so the
    /// parser is reached past TOML syntax; or any characters at all.
    fn scenario_text() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            Just("name = \"t\"".to_owned()),
            Just("[app]".to_owned()),
            Just("[load]".to_owned()),
            Just("[vars]".to_owned()),
            Just("[target]".to_owned()),
            Just("[pool]".to_owned()),
            Just("[[tasks]]".to_owned()),
            Just("[[cells]]".to_owned()),
            Just("[[expect]]".to_owned()),
            Just("[matrix]".to_owned()),
            Just("[stall]".to_owned()),
            Just("kind = \"command\"".to_owned()),
            Just("command = [\"x\", \"{port}\"]".to_owned()),
            "path = \"/[a-z{}.é]{0,12}\"",
            "(threads|pool_max|users|duration|when|verdict|url|preset|in_use|secrets|window) = (\"[^\"\\\\]{0,10}\"|[0-9-]{1,4}|\\[[0-9, ]{0,8}\\])",
            "when = \"[a-z_ ()<>=!&|+*0-9.\"']{0,24}\"",
            "[ -~éλ{}\\[\\]=\"]{0,30}",
        ];
        prop_oneof![
            4 => prop::collection::vec(line, 0..14).prop_map(|l| l.join("\n")),
            1 => any::<String>(),
        ]
    }

    proptest! {
        #[test]
        fn any_text_is_a_scenario_or_an_error_at_file_line_col(
            text in scenario_text(),
            quick in any::<bool>(),
        ) {
            let started = Instant::now();
            let overrides = Overrides { quick, ..Overrides::default() };
            let result = parse(Path::new("p.toml"), &text, &overrides);
            prop_assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
            if let Err(e) = result {
                let mut parts = e.location.rsplitn(3, ':');
                let col = parts.next().and_then(|c| c.parse::<usize>().ok());
                let line = parts.next().and_then(|l| l.parse::<usize>().ok());
                let file = parts.next();
                let flag = e.location.starts_with("--set ");
                prop_assert!(
                    flag || (file == Some("p.toml") && line.is_some_and(|l| l >= 1) && col.is_some_and(|c| c >= 1))
                        || e.location == "p.toml",
                    "location `{}` for {:?}", e.location, e.message
                );
                prop_assert!(!e.message.is_empty());
            }
        }

        #[test]
        fn any_set_value_is_taken_or_refused_naming_the_flag(
            key in "[a-z_.]{1,14}",
            value in any::<String>(),
        ) {
            let overrides = Overrides {
                set: vec![(key, value)],
                ..Overrides::default()
            };
            if let Err(e) = parse(Path::new("p.toml"), BASE, &overrides) {
                prop_assert!(
                    e.location.starts_with("--set ") || e.location.starts_with("p.toml"),
                    "location `{}`", e.location
                );
            }
        }
    }
}

#[test]
fn pgbouncer_sits_in_front_of_postgres_only_and_its_settings_are_cell_parameters() {
    let pooled = |backend: &str, extra: &str| {
        BASE.replace(
            "name = \"t\"",
            &format!(
                "name = \"t\"\n[database]\nbackend = \"{backend}\"\npooler = \"pgbouncer\"\n[pool]\nsource = \"pgbouncer\"\n{extra}"
            ),
        )
    };
    let s = parse_text(&format!(
        "{}\n[matrix]\ndefault_pool_size = [8, 17]\n",
        pooled("postgres-local", "[pgbouncer]\npool_mode = \"transaction\"")
    ))
    .unwrap();
    assert_eq!(s.pooler, Some(Pooler::Pgbouncer));
    assert_eq!(s.pool.as_ref().map(|p| p.from), Some(PoolFrom::Pgbouncer));
    let sizes: Vec<String> = s
        .cells
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c.get("pool_mode").unwrap(),
                c.get("default_pool_size").unwrap()
            )
        })
        .collect();
    assert_eq!(sizes, ["transaction 8", "transaction 17"]);

    let e = parse_text(&pooled("sqlite", "")).unwrap_err();
    assert!(
        e.message
            .contains("pooler = \"pgbouncer\" sits in front of PostgreSQL"),
        "{}",
        e.message
    );
    let e = parse_text(
        &pooled("postgres-local", "").replace("pooler = \"pgbouncer\"", "pooler = \"odyssey\""),
    )
    .unwrap_err();
    assert!(
        e.message.contains("unknown pooler `odyssey`"),
        "{}",
        e.message
    );
    // Without a pooler, its settings and its source are errors that say how to get one.
    let e = parse_text(&format!("{BASE}\n[[cells]]\ndefault_pool_size = 8\n")).unwrap_err();
    assert!(
        e.message
            .contains("`default_pool_size` is a pgbouncer setting; set [database] pooler"),
        "{}",
        e.message
    );
    let e = parse_text(&format!("{BASE}\n[pool]\nsource = \"pgbouncer\"\n")).unwrap_err();
    assert!(
        e.message.contains("set [database] pooler = \"pgbouncer\""),
        "{}",
        e.message
    );
    let plain = parse_text(BASE).unwrap();
    assert!(
        plain.cells[0].get("pool_mode").is_none(),
        "a scenario without a pooler carries no pgbouncer defaults"
    );
}
