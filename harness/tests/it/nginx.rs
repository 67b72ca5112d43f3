//! Debian's nginx as an independent HTTP/2 server: TLS with HTTP/2 by ALPN, h2c, and
//! `keepalive_requests`, which makes nginx end each HTTP/2 connection with GOAWAY after that
//! many requests. poolstorm must carry on across the GOAWAYs without losing a request, and give
//! the same outcomes over HTTP/1.1 and HTTP/2.

use std::path::Path;
use std::time::Duration;

use harness::engine::metrics::Kind;
use harness::results::LoadReport;

use harness::run::service::{Launch, Ready, Service};

use crate::support::{load_argv, load_with};

/// Requests per connection before nginx sends GOAWAY.
const KEEPALIVE_REQUESTS: u64 = 50;

/// A throwaway nginx on two free loopback ports: TLS (h2 and http/1.1 by ALPN) and h2c,
/// supervised as poolstorm supervises its own children (killed with its group when dropped).
struct Nginx {
    _service: Service,
    tls_port: u16,
    h2c_port: u16,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    harness::run::service::free_port().unwrap()
}

impl Nginx {
    async fn start(cert: &Path, key: &Path) -> Self {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("this test needs nginx: run `make test` (it installs nginx-light) or `sudo apt-get install nginx-light`");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let (tls_port, h2c_port) = (free_port(), free_port());
        let body = r#"{"error": "pool_timeout", "message": "from nginx"}"#;
        let conf = format!(
            r#"
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  keepalive_requests {KEEPALIVE_REQUESTS};
  server {{
    listen 127.0.0.1:{tls_port} ssl http2;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location /ok {{ return 200 "ok"; }}
    location /pool-timeout {{ default_type application/json; return 503 '{body}'; }}
  }}
  server {{
    listen 127.0.0.1:{h2c_port} http2;
    location /ok {{ return 200 "ok"; }}
  }}
}}
"#,
            cert = cert.display(),
            key = key.display(),
        );
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, conf).unwrap();
        let launch = Launch {
            program: binary.to_owned(),
            args: vec![
                "-c".to_owned(),
                file.display().to_string(),
                "-p".to_owned(),
                dir.path().display().to_string(),
            ],
            env: Vec::new(),
            cwd: None,
            log: dir.path().join("nginx.out"),
            // Its last listening port: nginx opens them in order, all before it serves.
            ready: Ready::Tcp(([127, 0, 0, 1], h2c_port).into()),
            ready_timeout: Duration::from_secs(10),
            grace: Duration::from_secs(2),
            run_as: None,
        };
        Self {
            _service: Service::start(&launch).await.expect("nginx starts"),
            tls_port,
            h2c_port,
            _dir: dir,
        }
    }
}

async fn load(argv: &[&str]) -> LoadReport {
    load_with(&load_argv(argv), Default::default()).await.0
}

/// A self-signed certificate for 127.0.0.1 (the runs use `--cacert` with it).
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (c, k) = (dir.join("nginx.pem"), dir.join("nginx.key"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_over_http2_and_http1_gives_the_same_outcomes_across_its_goaways() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(certs.path());
    let nginx = Nginx::start(&cert, &key).await;
    let url = format!("https://127.0.0.1:{}", nginx.tls_port);
    let run = |extra: &'static [&'static str]| {
        let (url, cert) = (url.clone(), cert.clone());
        async move {
            let mut argv = vec![
                url.as_str(),
                "--users",
                "1",
                "--requests",
                "600",
                "--seed",
                "11",
                "--cacert",
                cert.to_str().unwrap(),
                "--task",
                "GET /ok weight=3",
                "--task",
                "GET /pool-timeout weight=1",
            ];
            argv.extend(extra);
            load(&argv).await
        }
    };
    let h1 = run(&[]).await;
    let h2 = run(&["--http2"]).await;
    assert_eq!(h2.connections.protocol, "h2");
    assert_eq!(
        h1.outcomes, h2.outcomes,
        "same seed, same picks, same answers"
    );
    assert_eq!(
        h1.outcome(Kind::Ok) + h1.outcome(Kind::PoolTimeout),
        600,
        "{:?}",
        h1.outcomes
    );
    // nginx ends every HTTP/2 connection after 50 requests with GOAWAY; nothing is lost.
    let c = &h2.connections;
    assert!(
        c.goaways >= 600 / KEEPALIVE_REQUESTS - 1 && c.opened >= 600 / KEEPALIVE_REQUESTS,
        "{c:?}"
    );
    assert_eq!(h2.outcome(Kind::GoAway), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_serves_many_streams_per_connection_and_h2c() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(certs.path());
    let nginx = Nginx::start(&cert, &key).await;
    let url = format!("https://127.0.0.1:{}/ok", nginx.tls_port);
    let r = load(&[
        &url,
        "--http2",
        "--streams",
        "16",
        "--users",
        "32",
        "--workers",
        "2",
        "--duration",
        "2s",
        "--cacert",
        cert.to_str().unwrap(),
    ])
    .await;
    assert_eq!(r.error_ratio, 0.0, "{:?}", r.outcomes);
    assert!(r.outcome(Kind::Ok) > 1000, "{:?}", r.outcomes);
    let h2c = format!("http://127.0.0.1:{}/ok", nginx.h2c_port);
    let r = load(&[&h2c, "--h2c", "--users", "4", "--requests", "200"]).await;
    assert_eq!(r.outcome(Kind::Ok), 200, "{:?}", r.outcomes);
    assert_eq!(r.connections.protocol, "h2c");
}

/// The most common recipe for a test certificate, run as users run it: `CA:TRUE`, self-signed.
fn openssl_recipe(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(&k)
        .arg("-out")
        .arg(&c)
        .args(["-days", "2", "-subj", "/CN=localhost", "-addext"])
        .arg("subjectAltName=DNS:localhost,IP:127.0.0.1")
        .output()
        .expect("this test needs openssl (apt-get install openssl)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (c, k)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openssl_recipes_self_signed_certificate_works_with_cacert_as_curl_takes_it() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_recipe(certs.path());
    let nginx = Nginx::start(&cert, &key).await;
    let url = format!("https://127.0.0.1:{}/ok", nginx.tls_port);
    let r = load(&[
        &url,
        "--users",
        "2",
        "--requests",
        "50",
        "--cacert",
        cert.to_str().unwrap(),
    ])
    .await;
    assert_eq!(r.outcome(Kind::Ok), 50, "{:?}", r.connections.refused);
    let by_name = format!("https://localhost:{}/ok", nginx.tls_port);
    let r = load(&[
        &by_name,
        "--requests",
        "10",
        "--cacert",
        cert.to_str().unwrap(),
    ])
    .await;
    assert_eq!(r.outcome(Kind::Ok), 10, "{:?}", r.connections.refused);
}
