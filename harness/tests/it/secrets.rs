//! No secret in any output: a database password, `Authorization` and `Cookie` header values,
//! a secret var in a task path and a secret environment value of a command target that
//! prints it, run through every output (report.json, .csv, .md, .html, junit.xml, the interval
//! logs, the services' logs, stdout and stderr), then searched for.

use std::path::Path;

use sqlx::Connection as _;

use crate::support::{binary, mysql_url};

const PASSWORD: &str = "S3cretPwProbe";
const SECRETS: [&str; 5] = [
    PASSWORD,
    "key-XYZ789secret",
    "tok-ABCDEF123456",
    "cookie-QWERTY987",
    "envtok-556677",
];

/// A MySQL user with a password on the test server; returns its URL.
async fn user_with_password() -> String {
    sqlx::any::install_default_drivers();
    let root = mysql_url();
    let mut conn = sqlx::AnyConnection::connect(&format!("{root}/"))
        .await
        .unwrap();
    for statement in [
        format!("CREATE USER IF NOT EXISTS 'probe'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'"),
        "GRANT ALL PRIVILEGES ON *.* TO 'probe'@'127.0.0.1'".to_owned(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let authority = root
        .trim_start_matches("mysql://")
        .trim_start_matches("root@");
    format!("mysql://probe:{PASSWORD}@{authority}")
}

/// Every secret found in the files under `dir` and in `texts`.
fn leaks(dir: &Path, texts: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        for secret in SECRETS {
            if text.contains(secret) {
                found.push(format!("{secret} in {}", path.display()));
            }
        }
    }
    for (i, text) in texts.iter().enumerate() {
        for secret in SECRETS {
            if text.contains(secret) {
                found.push(format!("{secret} in output {i}"));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_file_or_output() {
    let url = user_with_password().await;
    let dir = tempfile::tempdir().unwrap();
    let managed = dir.path().join("managed.toml");
    std::fs::write(
        &managed,
        format!(
            r#"
name = "secret-managed"
secrets = ["api_key"]
[database]
backend = "url"
url = "{url}"
[vars]
api_key = "key-XYZ789secret"
[app]
pool_max = 2
[load]
users = 2
requests = 20
[[tasks]]
path = "/mode1/async?hold_ms=5&key={{api_key}}"
headers = {{ Authorization = "Bearer tok-ABCDEF123456", Cookie = "session=cookie-QWERTY987" }}
[[expect]]
name = "a rule that fails, so that its details are printed"
verdict = "deadlocked"
"#
        ),
    )
    .unwrap();
    let command = dir.path().join("command.toml");
    std::fs::write(
        &command,
        format!(
            r#"
name = "secret-command"
secrets = ["token"]
[database]
backend = "url"
url = "{url}"
[target]
kind = "command"
command = ["sh", "-c", "echo token is $API_TOKEN, url is $DB_URL; exec {} stub --listen 127.0.0.1:{{port}}"]
env = {{ API_TOKEN = "{{token}}", DB_URL = "{{db.url}}" }}
ready = "/ok"
[vars]
token = "envtok-556677"
[load]
users = 1
requests = 5
[[tasks]]
path = "/ok"
[[expect]]
verdict = "healthy"
"#,
            binary()
        ),
    )
    .unwrap();
    let out = dir.path().join("results");
    let run = tokio::process::Command::new(binary())
        .arg("run")
        .args([&managed, &command])
        .args(["--progress", "plain", "--out"])
        .arg(&out)
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    assert_eq!(run.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("verdict healthy, expected deadlocked"),
        "{stdout}"
    );
    let logs: Vec<String> = ["secret-managed", "secret-command"]
        .iter()
        .map(|name| crate::support::latest_results(&out, name))
        .map(|d| std::fs::read_to_string(d.join("report.json")).unwrap())
        .collect();
    assert!(
        logs[1].contains("\"command\""),
        "the command target's report is there to search"
    );
    let command_log =
        std::fs::read_dir(crate::support::latest_results(&out, "secret-command").join("cells"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".target.log"))
            .unwrap();
    let log = std::fs::read_to_string(command_log).unwrap();
    assert!(
        log.contains("token is ***, url is mysql://probe:***@"),
        "{log}"
    );

    // poolstorm load with a password in its URL and a secret header.
    let stub = harness::engine::stub::Stub::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let load_url = stub
        .url()
        .replace("http://", &format!("http://user:{PASSWORD}@"));
    let json = out.join("load.json");
    let csv = out.join("load.csv");
    let load = tokio::process::Command::new(binary())
        .args([
            "load",
            &format!("{load_url}/ok"),
            "--requests",
            "10",
            "--progress",
            "plain",
        ])
        .args(["-H", "Authorization: Bearer tok-ABCDEF123456", "--json"])
        .arg(&json)
        .arg("--csv")
        .arg(&csv)
        .output()
        .await
        .unwrap();
    let (load_out, load_err) = (
        String::from_utf8_lossy(&load.stdout),
        String::from_utf8_lossy(&load.stderr),
    );
    assert_eq!(load.status.code(), Some(0), "{load_out}\n{load_err}");
    assert!(load_out.contains("user:***@"), "{load_out}");

    // Everything poolstorm wrote (the scenario files it read are the test's own).
    let found = leaks(&out, &[&stdout, &stderr, &load_out, &load_err]);
    assert!(found.is_empty(), "secrets leaked: {found:#?}");
}
