//! The container paths, which no Docker engine here can run: `docker-compose config` must
//! accept docker-compose.yml, and every command, flag, scenario, make target, script, image
//! tag and binary that docker-compose.yml, the Dockerfile and the CI workflow name must exist
//! in this repository, so they cannot drift from the code. The `container` backend runs for
//! real when an engine answers, and otherwise must fail at once saying what to use instead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory as _;
use harness::cli::Cli;
use yaml_rust2::{Yaml, YamlLoader};

use crate::support::binary;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn read(name: &str) -> String {
    std::fs::read_to_string(repo().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A script or Dockerfile without its comment lines.
fn code(name: &str) -> String {
    read(name)
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

fn yaml(name: &str) -> Yaml {
    YamlLoader::load_from_str(&read(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .remove(0)
}

/// Every string in a YAML document.
fn strings(doc: &Yaml, out: &mut Vec<String>) {
    match doc {
        Yaml::String(s) => out.push(s.clone()),
        Yaml::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Yaml::Hash(map) => map.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        _ => {}
    }
}

/// Words of command lines: shell strings split on blanks, quotes dropped.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.trim_matches(['"', '\'', ';']).to_owned())
        .collect()
}

/// Checks `poolstorm SUB --flag...` and `target-app --flag...` in a list of words.
fn check_invocations(words: &[String], source: &str, target_app_help: &str) {
    let cli = Cli::command();
    for (i, word) in words.iter().enumerate() {
        let program = word.rsplit('/').next().unwrap();
        let flags_after = |from: usize| {
            words[from..]
                .iter()
                .take_while(|w| {
                    !w.contains("poolstorm")
                        && !w.contains("target-app")
                        && *w != "&&"
                        && *w != "||"
                })
                .filter(|w| w.starts_with("--"))
                .map(|w| w.split('=').next().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        if program == "poolstorm" {
            let Some(sub) = words.get(i + 1).filter(|w| !w.starts_with('-')) else {
                continue;
            };
            let command = cli
                .find_subcommand(sub)
                .unwrap_or_else(|| panic!("{source}: `poolstorm {sub}`: no such subcommand"));
            let longs: BTreeSet<String> = command
                .get_arguments()
                .filter_map(|a| a.get_long())
                .map(|l| format!("--{l}"))
                .collect();
            for flag in flags_after(i + 2) {
                assert!(
                    longs.contains(&flag),
                    "{source}: `poolstorm {sub} {flag}`: no such flag"
                );
            }
        } else if program == "target-app" {
            for flag in flags_after(i + 1) {
                assert!(
                    target_app_help.contains(&flag),
                    "{source}: `target-app {flag}`: no such flag"
                );
            }
        }
    }
}

fn scenario_paths(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || "\"':,=[]$(){}-".contains(c) && c != '-')
        .filter_map(|w| {
            w.find("scenarios/")
                .map(|at| w[at..].trim_end_matches(['"', '\'', '}']).to_owned())
        })
        .filter(|w| w.ends_with(".toml"))
        .collect()
}

fn target_app_help() -> String {
    let exe = Path::new(binary()).with_file_name("target-app");
    let out = Command::new(&exe)
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
    String::from_utf8(out.stdout).unwrap()
}

fn make_targets() -> BTreeSet<String> {
    read("Makefile")
        .lines()
        .filter_map(|l| l.split_once(':').map(|(t, _)| t))
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn docker_compose_accepts_the_compose_file() {
    let out = Command::new("docker-compose")
        .args(["-f", "docker-compose.yml", "config", "--quiet"])
        .current_dir(repo())
        .output()
        .expect(
            "docker-compose is needed to check docker-compose.yml: apt-get install docker-compose",
        );
    assert!(
        out.status.success(),
        "docker-compose config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let services = Command::new("docker-compose")
        .args([
            "-f",
            "docker-compose.yml",
            "--profile",
            "run",
            "--profile",
            "mariadb",
            "--profile",
            "postgres",
            "config",
            "--services",
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    let services: BTreeSet<String> = String::from_utf8_lossy(&services.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let expected = [
        "harness",
        "harness-mariadb",
        "harness-postgres",
        "mariadb",
        "mysql",
        "postgres",
        "target-app",
    ];
    assert_eq!(
        services,
        expected.iter().map(|s| (*s).to_owned()).collect(),
        "services"
    );
}

#[test]
fn compose_file_dockerfile_and_workflow_name_only_what_exists() {
    let help = target_app_help();
    let targets = make_targets();

    // docker-compose.yml: commands, flags, scenarios, the services the Makefile runs, image tags.
    let compose = yaml("docker-compose.yml");
    let mut texts = Vec::new();
    strings(&compose, &mut texts);
    let compose_words: Vec<String> = texts.iter().flat_map(|t| words(t)).collect();
    check_invocations(&compose_words, "docker-compose.yml", &help);
    let services = &compose["services"];
    for name in [
        "mysql",
        "target-app",
        "harness",
        "harness-mariadb",
        "mariadb",
        "postgres",
        "harness-postgres",
    ] {
        assert!(
            !services[name].is_badvalue(),
            "docker-compose.yml has no service {name}"
        );
    }
    for service in ["harness", "harness-mariadb", "harness-postgres"] {
        let entry = services[service]["entrypoint"]
            .as_vec()
            .expect("harness entrypoint");
        let script = entry.last().unwrap().as_str().unwrap();
        check_invocations(
            &words(script),
            &format!("docker-compose.yml {service}"),
            &help,
        );
        let scenario = services[service]["environment"]["SCENARIO"]
            .as_str()
            .unwrap();
        let default = scenario
            .trim_start_matches("${SCENARIO:-")
            .trim_end_matches('}');
        assert!(
            repo().join(default).is_file(),
            "{service}: default scenario {default} is missing"
        );
    }
    // Registry images by default; one variable each switches to the local stand-ins.
    assert_eq!(
        services["mysql"]["image"].as_str(),
        Some(
            format!(
                "${{POOLSTORM_MYSQL_IMAGE:-mysql:{}}}",
                harness::run::database::MYSQL_TAG
            )
            .as_str()
        )
    );
    assert_eq!(
        services["mariadb"]["image"].as_str(),
        Some("${POOLSTORM_MARIADB_IMAGE:-mariadb:11}")
    );
    assert_eq!(
        services["postgres"]["image"].as_str(),
        Some(
            format!(
                "${{POOLSTORM_POSTGRES_IMAGE:-postgres:{}}}",
                harness::run::database::POSTGRES_TAG
            )
            .as_str()
        )
    );
    let dockerfile = read("Dockerfile");
    for (arg, default) in [
        ("BUILDER", "rust:1.95-slim-bookworm"),
        ("RUNTIME", "debian:bookworm-slim"),
    ] {
        assert!(
            dockerfile.contains(&format!("ARG {arg}={default}")),
            "the Dockerfile's {arg} defaults to {default}"
        );
        let variable = format!("POOLSTORM_{arg}_IMAGE");
        assert!(
            read("docker-compose.yml").contains(&format!("{arg}: ${{{variable}:-{default}}}")),
            "docker-compose.yml passes {variable} as {arg}"
        );
        assert!(
            read("Makefile").contains(&format!("export {variable} ?= poolstorm-local/")),
            "LOCAL_IMAGES=1 switches {variable}"
        );
    }
    for path in scenario_paths(&read("docker-compose.yml"))
        .into_iter()
        .chain(scenario_paths(&read("Makefile")))
    {
        assert!(repo().join(&path).is_file(), "{path} is named but missing");
    }
    let makefile = read("Makefile");
    // compose-run's DB=mariadb and DB=postgres run harness-mariadb and harness-postgres.
    for service in ["harness", "harness-$(DB)", "mysql", "target-app"] {
        assert!(
            makefile.contains(service),
            "the Makefile should run compose service {service}"
        );
    }
    assert!(
        makefile.contains("$(filter mariadb postgres,$(DB))"),
        "DB=mariadb and DB=postgres pick their profiles"
    );

    // The workflow: make targets, scripts, scenarios, the MySQL image, the upload and summary.
    let workflow = yaml(".github/workflows/scenarios.yml");
    let job = &workflow["jobs"]["scenarios"];
    assert_eq!(
        job["services"]["mysql"]["image"].as_str(),
        Some(format!("mysql:{}", harness::run::database::MYSQL_TAG).as_str())
    );
    assert_eq!(
        job["services"]["postgres"]["image"].as_str(),
        Some(format!("postgres:{}", harness::run::database::POSTGRES_TAG).as_str())
    );
    let runs: Vec<String> = job["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str().map(str::to_owned))
        .collect();
    let uses: Vec<&str> = job["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|s| s["uses"].as_str())
        .collect();
    assert!(
        uses.iter()
            .any(|u| u.starts_with("actions/upload-artifact")),
        "results are uploaded"
    );
    assert!(
        runs.iter()
            .any(|r| r.contains("GITHUB_STEP_SUMMARY") && r.contains("report.md")),
        "report.md goes to the summary"
    );
    for run in &runs {
        let ws = words(run);
        check_invocations(&ws, "scenarios.yml", &help);
        for (i, w) in ws.iter().enumerate() {
            if w == "make" {
                let target = &ws[i + 1];
                assert!(
                    targets.contains(target),
                    "scenarios.yml: `make {target}`: no such target"
                );
            }
            if w.starts_with("scripts/") {
                assert!(repo().join(w).is_file(), "scenarios.yml: {w} is missing");
            }
        }
    }
    let scenarios_sh = code("scripts/scenarios.sh");
    check_invocations(
        &words(&scenarios_sh.replace("\"$bin/", "")),
        "scripts/scenarios.sh",
        &help,
    );
    for path in scenario_paths(&scenarios_sh) {
        assert!(
            repo().join(&path).is_file(),
            "scripts/scenarios.sh names {path}, which is missing"
        );
    }
}

/// The binaries the workspace declares, and where the Makefile's build puts them.
fn workspace_binaries() -> BTreeSet<String> {
    ["harness/Cargo.toml", "target-app/Cargo.toml"]
        .iter()
        .flat_map(|f| {
            let manifest: toml::Table = read(f).parse().unwrap();
            manifest["bin"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_dockerfile_builds_the_binaries_the_makefile_builds() {
    let dockerfile = code("Dockerfile");
    let makefile = code("Makefile");
    let build_flags = |text: &str, prefix: &str| -> BTreeSet<String> {
        let line = text
            .lines()
            .find(|l| l.contains(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line"));
        line.split_whitespace()
            .filter(|w| w.starts_with("--"))
            .map(str::to_owned)
            .collect()
    };
    let docker = build_flags(&dockerfile, "cargo build");
    let make = build_flags(&makefile, "$(CARGO) build --release");
    assert_eq!(
        docker, make,
        "the Dockerfile and `make release` build with the same flags"
    );
    assert!(docker.contains("--locked") && docker.contains("--release"));

    let binaries = workspace_binaries();
    assert_eq!(
        binaries,
        ["poolstorm", "target-app"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    let installed: BTreeSet<String> = dockerfile
        .lines()
        .filter(|l| l.contains("install") || l.contains("COPY --from=build"))
        .flat_map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.rsplit('/').next().map(str::to_owned))
        })
        .filter(|w| binaries.contains(w))
        .collect();
    assert_eq!(
        installed, binaries,
        "the image ships every binary the workspace builds"
    );
    for b in &binaries {
        assert!(
            makefile.contains(&format!("target/release/{b}"))
                || read("scripts/scenarios.sh").contains(&format!("/{b}\"")),
            "the Makefile or scripts run target/release/{b}"
        );
    }
    assert!(
        dockerfile.contains("ENV POOLSTORM_TARGET_APP=/usr/local/bin/target-app"),
        "poolstorm finds target-app"
    );
    assert!(
        dockerfile.contains("USER poolstorm"),
        "the image runs as a non-root user"
    );
    assert!(
        dockerfile.contains("COPY scenarios"),
        "the scenarios ship with the image"
    );
    let ignore = read(".dockerignore");
    assert!(ignore.lines().any(|l| l == "target/") && ignore.lines().any(|l| l == "results/"));
}

/// `docker ARGS...`: its stdout, or why it failed.
fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Containers of `image`, running or not.
fn containers_of(image: &str) -> BTreeSet<String> {
    docker(&["ps", "-aq", "--filter", &format!("ancestor={image}")])
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A one-cell scenario on the container backend, `duration` long.
fn container_scenario(dir: &Path, duration: &str) -> PathBuf {
    let file = dir.join(format!("c{duration}.toml"));
    std::fs::write(
        &file,
        format!(
            "name = \"c\"\n[app]\nthreads = 2\npool_max = 2\nhold_ms = 0\n[load]\nusers = 2\nduration = \"{duration}\"\n\
             [[tasks]]\npath = \"/mode1/async\"\n[[expect]]\nverdict = \"healthy\"\n"
        ),
    )
    .unwrap();
    file
}

fn run_on_container(file: &Path, out: &Path, backend: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(binary());
    cmd.arg("run")
        .arg(file)
        .args(["--db", backend, "--progress", "none", "--out"])
        .arg(out);
    cmd
}

/// The `container` backend for real, through testcontainers: a scenario runs on a fresh
/// server container, which is gone at the end, and gone too when Ctrl-C cuts the run short.
/// It needs an engine and the image (`make test` provides both); without them it fails
/// saying how to get them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_backend_runs_a_scenario_and_removes_its_container_also_after_ctrl_c() {
    a_container_runs_a_scenario_and_is_removed(
        contract::Engine::Mysql,
        "container",
        "mysql://root@",
    )
    .await;
}

/// The same with PostgreSQL: `container:postgres` (`POOLSTORM_POSTGRES_IMAGE`, which `make
/// test` points at the stand-in scripts/local-images.sh builds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_container_backend_runs_a_scenario_and_removes_its_container_also_after_ctrl_c()
 {
    a_container_runs_a_scenario_and_is_removed(
        contract::Engine::Postgres,
        "container:postgres",
        "postgres://postgres@",
    )
    .await;
}

/// `--db backend` runs a scenario on a fresh `engine` container whose URL starts with `url`,
/// removed at the end and after Ctrl-C.
async fn a_container_runs_a_scenario_and_is_removed(
    engine: contract::Engine,
    backend: &str,
    url: &str,
) {
    let address = harness::run::database::engine_address();
    assert!(
        harness::run::database::engine_answers(&address).await,
        "this test needs a Docker engine at {address}: `make test` starts one as root (scripts/docker-engine.sh), or run `sudo dockerd &`"
    );
    let (name, tag) = harness::run::database::image(engine);
    let image = format!("{name}:{tag}");
    assert!(
        docker(&["image", "inspect", &image]).is_ok(),
        "this test needs the image {image}: `make local-images` builds the stand-ins (poolstorm-local/mariadb:10.11, poolstorm-local/postgres:15) from Debian's packages, and `make test` sets {} and {} to them",
        harness::run::database::IMAGE_VARIABLE,
        harness::run::database::POSTGRES_IMAGE_VARIABLE
    );
    let dir = tempfile::tempdir().unwrap();
    let before = containers_of(&image);

    let out = run_on_container(
        &container_scenario(dir.path(), "1s"),
        &dir.path().join("r"),
        backend,
    )
    .output()
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = harness::results::scenario::ScenarioReport::read(
        &crate::support::latest_results(&dir.path().join("r"), "c").join("report.json"),
    )
    .unwrap();
    // The host is an IP literal: 127.0.0.1, or the bridge's gateway when the tests themselves
    // run inside a container (testcontainers' choice, after /.dockerenv).
    let database = &report.scenario.database;
    let host = database
        .strip_prefix(&format!("container {image} ({url}"))
        .and_then(|rest| rest.rsplit_once(':'))
        .map(|(host, _)| host);
    assert!(
        host.is_some_and(|h| h.parse::<std::net::IpAddr>().is_ok()),
        "{database}"
    );
    assert_eq!(containers_of(&image), before, "the container is removed");

    // Ctrl-C once the cell runs on its container.
    let results = dir.path().join("interrupted");
    let child = run_on_container(&container_scenario(dir.path(), "60s"), &results, backend)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    crate::support::wait_until(
        std::time::Duration::from_secs(90),
        "the cell to start on its container",
        async || {
            let started = containers_of(&image).len() > before.len()
                && std::fs::read_dir(&results)
                    .ok()?
                    .flatten()
                    .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
                    .any(|run| run.path().join("cells").exists());
            started.then_some(())
        },
    )
    .await;
    crate::support::interrupt(&child).await;
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the run ends after Ctrl-C")
        .unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(
        containers_of(&image),
        before,
        "the container is removed after Ctrl-C too"
    );
}

/// Without an engine the `container` backend fails at once and names the backends that do
/// work here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_backend_without_an_engine_says_what_to_use_instead() {
    let dir = tempfile::tempdir().unwrap();
    let file = container_scenario(dir.path(), "1s");
    let started = std::time::Instant::now();
    let nowhere = format!("unix://{}", dir.path().join("no-docker.sock").display());
    let out = run_on_container(&file, &dir.path().join("r"), "container")
        .env("DOCKER_HOST", nowhere)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a backend that cannot start: the run could not be carried out: {stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "fails at once"
    );
    for alternative in [
        "needs a Docker engine",
        "--db sqlite",
        "--db mariadb-local",
        "--db mysql://",
    ] {
        assert!(
            stderr.contains(alternative),
            "missing `{alternative}` in: {stderr}"
        );
    }
}
