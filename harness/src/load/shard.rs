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

    #[test]
    fn shard_specs_are_checked_with_the_reason() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        assert!(Shard::parse("4/4").unwrap_err().0.contains("from 0 to 3"));
        assert!(Shard::parse("0/0").unwrap_err().0.contains("at least 1"));
        assert!(Shard::parse("two").unwrap_err().0.contains("expected I/N"));
    }
}
