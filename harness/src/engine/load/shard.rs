//! One share of a run that several machines make together: `--shard I/N` (or a Kubernetes
//! Indexed Job's `JOB_COMPLETION_INDEX` with a count) takes the I-th share of the users, the
//! rate and the request budget, so that N shards together send what one process would.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{LoadPlan, Model};

/// The variable a Kubernetes Indexed Job sets in each pod: its index, from 0.
pub const INDEX_VARIABLE: &str = "JOB_COMPLETION_INDEX";

/// Which share of the run this process makes: `index` from 0 to `count - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why a shard cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShardError(pub String);

impl Shard {
    /// Parses `I/N`, I from 0 (as `JOB_COMPLETION_INDEX` counts).
    pub fn parse(text: &str) -> Result<Self, ShardError> {
        let bad = || {
            ShardError(format!(
                "`{text}`: expected I/N, as 0/4 for the first of four"
            ))
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index = i.trim().parse().map_err(|_| bad())?;
        let count = n.trim().parse().map_err(|_| bad())?;
        Self::new(index, count)
    }

    /// The shard `index` of `count`; the index runs from 0 to `count - 1`.
    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        if count == 0 {
            return Err(ShardError("the count of shards must be at least 1".into()));
        }
        if index >= count {
            return Err(ShardError(format!(
                "index {index} of {count}: indexes run from 0 to {} (as {INDEX_VARIABLE})",
                count - 1
            )));
        }
        Ok(Self { index, count })
    }

    /// This shard's part of `total` whole things: the first `total % count` shards take one
    /// more, so the parts add up to `total` exactly.
    pub fn part(&self, total: u64) -> u64 {
        let (n, i) = (u64::from(self.count), u64::from(self.index));
        total / n + u64::from(i < total % n)
    }

    /// The plan for this share: users, rate, spawn rate, in-flight cap and request budget
    /// divided; each shard its own seed (the run's seed plus its index), so shards do not all
    /// choose the same tasks. A share with no user, or no request, is an error.
    pub fn apply(&self, plan: &mut LoadPlan) -> Result<(), ShardError> {
        let n = f64::from(self.count);
        match &mut plan.model {
            Model::Closed {
                users, spawn_rate, ..
            } => {
                let share = self.part(u64::from(*users)) as u32;
                if share == 0 {
                    return Err(ShardError(format!(
                        "{users} users cannot be split into {} shards: give at least one user per shard",
                        self.count
                    )));
                }
                if let Some(rate) = spawn_rate {
                    *rate = *rate * f64::from(share) / f64::from(*users);
                }
                *users = share;
                plan.workers = plan.workers.min(share as usize).max(1);
            }
            Model::Open {
                rate,
                max_in_flight,
            } => {
                *rate /= n;
                *max_in_flight = (self.part(u64::from(*max_in_flight)) as u32).max(1);
            }
        }
        if let Some(requests) = &mut plan.requests {
            let share = self.part(*requests);
            if share == 0 {
                return Err(ShardError(format!(
                    "a budget of {requests} requests cannot be split into {} shards",
                    self.count
                )));
            }
            *requests = share;
        }
        plan.seed = plan.seed.wrapping_add(u64::from(self.index));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_add_up_to_the_whole_and_differ_by_at_most_one() {
        for total in [0u64, 1, 7, 10, 1001] {
            for count in 1..=9u32 {
                let parts: Vec<u64> = (0..count)
                    .map(|i| Shard::new(i, count).unwrap().part(total))
                    .collect();
                assert_eq!(parts.iter().sum::<u64>(), total, "{total} over {count}");
                let (lo, hi) = (parts.iter().min().unwrap(), parts.iter().max().unwrap());
                assert!(hi - lo <= 1, "{parts:?}");
            }
        }
    }

    fn shares(settings: &[(&str, &str)], count: u32) -> Vec<LoadPlan> {
        (0..count)
            .map(|i| {
                let mut plan = crate::engine::load::settings::tests::plan(settings).unwrap();
                Shard::new(i, count).unwrap().apply(&mut plan).unwrap();
                plan
            })
            .collect()
    }

    #[test]
    fn a_closed_model_splits_users_budget_and_spawn_rate_and_seeds_apart() {
        let plans = shares(
            &[
                ("users", "10"),
                ("requests", "101"),
                ("spawn_rate", "5"),
                ("seed", "7"),
                ("workers", "8"),
            ],
            4,
        );
        let users: Vec<u32> = plans
            .iter()
            .map(|p| match p.model {
                Model::Closed { users, .. } => users,
                Model::Open { .. } => unreachable!(),
            })
            .collect();
        assert_eq!(users, [3, 3, 2, 2]);
        let spawn: f64 = plans
            .iter()
            .map(|p| match p.model {
                Model::Closed { spawn_rate, .. } => spawn_rate.unwrap(),
                Model::Open { .. } => unreachable!(),
            })
            .sum();
        assert!((spawn - 5.0).abs() < 1e-9, "{spawn}");
        let budget: Vec<u64> = plans.iter().map(|p| p.requests.unwrap()).collect();
        assert_eq!(budget, [26, 25, 25, 25]);
        let seeds: Vec<u64> = plans.iter().map(|p| p.seed).collect();
        assert_eq!(seeds, [7, 8, 9, 10]);
        assert!(
            plans.iter().all(|p| p.workers <= 3),
            "no more workers than users"
        );
    }

    #[test]
    fn an_open_model_splits_the_rate_and_the_in_flight_cap() {
        let plans = shares(&[("rate", "1000"), ("max_in_flight", "10")], 3);
        let (rate, cap): (f64, u32) = plans.iter().fold((0.0, 0), |(r, c), p| match p.model {
            Model::Open {
                rate,
                max_in_flight,
            } => (r + rate, c + max_in_flight),
            Model::Closed { .. } => unreachable!(),
        });
        assert!((rate - 1000.0).abs() < 1e-9);
        assert_eq!(cap, 10);
    }

    #[test]
    fn a_share_with_no_user_or_no_request_is_refused() {
        let mut plan = crate::engine::load::settings::tests::plan(&[("users", "2")]).unwrap();
        let e = Shard::new(2, 3).unwrap().apply(&mut plan).unwrap_err();
        assert!(e.0.contains("2 users cannot be split into 3 shards"), "{e}");
        let mut plan =
            crate::engine::load::settings::tests::plan(&[("requests", "2"), ("users", "9")])
                .unwrap();
        let e = Shard::new(2, 3).unwrap().apply(&mut plan).unwrap_err();
        assert!(e.0.contains("budget of 2 requests"), "{e}");
    }

    #[test]
    fn shard_specs_are_checked_with_the_reason() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        assert!(Shard::parse("4/4").unwrap_err().0.contains("from 0 to 3"));
        assert!(Shard::parse("0/0").unwrap_err().0.contains("at least 1"));
        assert!(Shard::parse("two").unwrap_err().0.contains("expected I/N"));
    }
}
