//! Waiting for something outside poolstorm to become true, with a deadline: a server that
//! accepts connections, a service that answers its readiness path. One loop for every such
//! wait, so each has its limit and its pause, and none can spin forever.

use std::time::Duration;

/// Asks `check` every `every` until it answers `Ok(Some(value))` (then that value) or
/// `Err(e)` (then that error, at once), for at most `limit`: `Ok(None)` when the time ran
/// out. `check` runs at least once, and once more at the deadline's side of the last pause.
pub async fn until<T, E>(
    limit: Duration,
    every: Duration,
    mut check: impl AsyncFnMut() -> Result<Option<T>, E>,
) -> Result<Option<T>, E> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await? {
            return Ok(Some(value));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn it_answers_what_the_check_finds_and_gives_up_at_the_deadline() {
        let start = tokio::time::Instant::now();
        let mut asked = 0;
        let found = until(
            Duration::from_secs(1),
            Duration::from_millis(100),
            async || {
                asked += 1;
                Ok::<_, ()>((asked == 3).then_some(asked))
            },
        )
        .await;
        assert_eq!(found, Ok(Some(3)));
        assert_eq!(start.elapsed(), Duration::from_millis(200), "two pauses");

        let start = tokio::time::Instant::now();
        let never = until(
            Duration::from_secs(1),
            Duration::from_millis(300),
            async || Ok::<Option<()>, ()>(None),
        )
        .await;
        assert_eq!(never, Ok(None));
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(1200),
            "past the deadline, then no more"
        );

        let failed = until(
            Duration::from_secs(1),
            Duration::from_millis(100),
            async || Err::<Option<()>, _>("exited"),
        )
        .await;
        assert_eq!(failed, Err("exited"), "an error ends the wait at once");
    }
}
