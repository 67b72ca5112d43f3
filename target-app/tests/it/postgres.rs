//! What only PostgreSQL has: `--query-delay-ms` through `pg_sleep`, seen in the server's own
//! `pg_stat_activity`, and PostgreSQL's errors sent with their stable codes (a
//! `statement_timeout` that cancels the sleep is `statement_timeout`, not `db`). Both modes'
//! tests run on PostgreSQL too (`mode1::postgres`, `mode2::postgres`).

use std::time::{Duration, Instant};

use sqlx::Connection as _;

use crate::support::{Backend, RunningApp, wait_until};

/// A connection to the test's own database, for what the server shows of the app.
async fn watch(url: &str) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url)
        .await
        .expect("connect to PostgreSQL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_delay_sleeps_in_the_server_where_pg_stat_activity_shows_it() {
    let db = Backend::Postgres.fresh_db("pg_delay").await;
    let app = RunningApp::start(&db, "--pool-max 2 --query-delay-ms 1500").await;
    let (client, url) = (app.client.clone(), format!("{}/mode1/async", app.base));
    let started = Instant::now();
    let request = tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) });
    let mut conn = watch(&db.url).await;
    let sleeping: i64 = wait_until(Duration::from_secs(10), async || {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'active' AND wait_event = 'PgSleep'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("pg_stat_activity");
        if n > 0 {
            Ok(n)
        } else {
            Err("no session of the app sleeps in pg_sleep".to_owned())
        }
    })
    .await;
    assert_eq!(sleeping, 1, "one checkout sleeps in the server");
    let status = request.await.unwrap().expect("the request is answered");
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(1500));
    app.terminate(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_timeout_is_sent_as_its_stable_code() {
    let db = Backend::Postgres.fresh_db("pg_timeout").await;
    // The database exists before the app starts, with a statement_timeout every new session of
    // it takes: the app's checkout sleep of 1 s is cancelled after 200 ms (SQLSTATE 57014).
    let (server, name) = db.url.rsplit_once('/').unwrap();
    let mut admin = watch(&format!("{server}/postgres")).await;
    for statement in [
        format!("CREATE DATABASE \"{name}\""),
        format!("ALTER DATABASE \"{name}\" SET statement_timeout = '200ms'"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut admin)
            .await
            .expect("prepare the database");
    }
    let app = RunningApp::start(&db, "--pool-max 2 --query-delay-ms 1000").await;
    let (status, body) = app.get("/mode1/async").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (500, Some("statement_timeout")),
        "{body}"
    );
    app.terminate(Duration::from_secs(10)).await;
}
