//! deploy/k8s: the manifests validate against Kubernetes' own schemas offline
//! (`kubernetes-validate --strict`), agree with each other, and the scripts their pods run
//! work as written on this machine: four processes as the Indexed Job's pods (by
//! JOB_COMPLETION_INDEX) and the merge Job's, against the stub. There is no cluster here; what
//! a cluster adds (scheduling, the volume, the ConfigMap) is the manifests' part, validated.

use std::path::{Path, PathBuf};

use harness::engine::stub::Stub;
use harness::results::LoadReport;
use yaml_rust2::{Yaml, YamlLoader};

use crate::support::{binary, repo};

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("deploy/k8s"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn validator() -> PathBuf {
    let tool = repo().join("tools/.venv/bin/kubernetes-validate");
    assert!(
        tool.is_file(),
        "{} is missing: run scripts/test-deps.sh (scripts/venv.sh tools)",
        tool.display()
    );
    tool
}

fn validate(files: &[PathBuf]) -> std::process::Output {
    std::process::Command::new(validator())
        .arg("--strict")
        .args(files)
        .output()
        .unwrap()
}

#[test]
fn the_manifests_validate_against_kubernetes_schemas_offline() {
    let files = manifests();
    assert_eq!(files.len(), 3, "{files:?}");
    let out = validate(&files);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(said.contains(&format!("{name} passed")), "{said}");
    }
    // The validator does look: a misspelt field fails.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    std::fs::write(&bad, text.replacen("backoffLimit", "backofLimit", 1)).unwrap();
    let out = validate(&[bad]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("backofLimit"));
}

fn load(name: &str) -> Yaml {
    let text = std::fs::read_to_string(repo().join("deploy/k8s").join(name)).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn container(job: &Yaml) -> &Yaml {
    &job["spec"]["template"]["spec"]["containers"][0]
}

fn env(job: &Yaml, name: &str) -> Option<String> {
    container(job)["env"]
        .as_vec()?
        .iter()
        .find(|e| e["name"].as_str() == Some(name))?["value"]
        .as_str()
        .map(str::to_owned)
}

fn script(job: &Yaml) -> String {
    container(job)["args"][0].as_str().unwrap().to_owned()
}

/// Runs a pod's script with `sh`, /results a folder of ours, poolstorm on the PATH.
fn pod(script: &str, results: &Path, env: &[(&str, String)]) -> tokio::process::Command {
    let bin = Path::new(binary()).parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script.replace("/results", &results.display().to_string()))
        .env("PATH", path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_indexed_job_and_the_merge_job_run_their_scripts_as_written() {
    let (shards, merge) = (load("shards-job.yaml"), load("merge-job.yaml"));
    let count = shards["spec"]["completions"].as_i64().unwrap();
    assert_eq!(shards["spec"]["completionMode"].as_str(), Some("Indexed"));
    assert_eq!(shards["spec"]["parallelism"].as_i64(), Some(count));
    assert_eq!(env(&shards, "POOLSTORM_SHARDS"), Some(count.to_string()));
    assert_eq!(env(&merge, "POOLSTORM_SHARDS"), Some(count.to_string()));
    assert_eq!(container(&shards)["image"], container(&merge)["image"]);
    let claim = |job: &Yaml| {
        job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"].clone()
    };
    assert_eq!(claim(&shards), claim(&merge));
    assert_eq!(
        claim(&shards).as_str(),
        load("results-pvc.yaml")["metadata"]["name"].as_str()
    );

    // The pods' scripts, the load made small: 8 users for 2 s instead of 400 for 5 minutes.
    let shard_script = script(&shards);
    assert!(
        shard_script.contains("--users 400 --duration 5m"),
        "{shard_script}"
    );
    let shard_script = shard_script.replace("--users 400 --duration 5m", "--users 8 --duration 2s");
    let stub = Stub::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let results = tempfile::tempdir().unwrap();
    let start_at = humantime::format_rfc3339_seconds(
        std::time::SystemTime::now() + std::time::Duration::from_secs(2),
    )
    .to_string();
    let run_env = |index: i64| {
        vec![
            ("JOB_COMPLETION_INDEX", index.to_string()),
            ("POOLSTORM_SHARDS", count.to_string()),
            ("POOLSTORM_RUN_ID", "run-test".to_owned()),
            ("POOLSTORM_START_AT", start_at.clone()),
            ("TARGET_URL", format!("{}/ok", stub.url())),
        ]
    };
    // The merge pod first: it waits for the shards.
    let merging = pod(&script(&merge), results.path(), &run_env(0))
        .kill_on_drop(true)
        .output();
    let merging = tokio::spawn(merging);
    let mut pods = Vec::new();
    for i in 0..count {
        let child = pod(&shard_script, results.path(), &run_env(i)).output();
        pods.push(tokio::spawn(child));
    }
    for (i, p) in pods.into_iter().enumerate() {
        let out = p.await.unwrap().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "shard pod {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), merging)
        .await
        .expect("the merge pod sees every shard within 5 s and merges")
        .unwrap()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains(&format!("merged     {count} shards of run run-test")),
        "{said}"
    );
    let dir = results.path().join("run-test");
    let merged: LoadReport = LoadReport::read(&dir.join("merged.json")).unwrap();
    assert_eq!(merged.requests.total, stub.requests());
    assert_eq!(merged.model.users, Some(8));
    for file in ["merged.csv", "merged.html", "shard-0.hlog"] {
        assert!(dir.join(file).is_file(), "{file}");
    }
}
