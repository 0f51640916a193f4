//! Who runs what. The leader computes it; everyone reads it from the config topic.
//!
//! Balanced and sticky: connectors and tasks per worker differ by at most one, and a new
//! assignment moves only what must move (work of departed workers, and the surplus of
//! overloaded ones when a worker joins).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One task of one connector.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskRef {
    /// The connector's name.
    pub connector: String,
    /// The task's number.
    pub task: u32,
}

/// The cluster's current division of work, as written by the leader.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Grows with every new assignment.
    pub generation: u64,
    /// The worker that computed it.
    pub leader: String,
    /// The workers in the group when it was computed.
    pub members: Vec<String>,
    /// Worker → connectors it runs.
    pub connectors: BTreeMap<String, Vec<String>>,
    /// Worker → tasks it runs.
    pub tasks: BTreeMap<String, Vec<TaskRef>>,
}

impl Assignment {
    /// The worker assigned connector `name`.
    pub fn connector_owner(&self, name: &str) -> Option<&str> {
        self.connectors
            .iter()
            .find(|(_, names)| names.iter().any(|n| n == name))
            .map(|(worker, _)| worker.as_str())
    }

    /// The worker assigned task `task` of `connector`.
    pub fn task_owner(&self, connector: &str, task: u32) -> Option<&str> {
        self.tasks
            .iter()
            .find(|(_, tasks)| {
                tasks
                    .iter()
                    .any(|t| t.connector == connector && t.task == task)
            })
            .map(|(worker, _)| worker.as_str())
    }

    /// Same members and same work (generation and leader aside).
    pub fn same_work(&self, other: &Assignment) -> bool {
        self.members == other.members
            && self.connectors == other.connectors
            && self.tasks == other.tasks
    }

    /// The next assignment for `members` (sorted worker ids), keeping what `self` assigned
    /// wherever balance allows.
    pub fn rebalanced(
        &self,
        leader: &str,
        members: &[String],
        connectors: &BTreeSet<String>,
        tasks: &BTreeSet<TaskRef>,
    ) -> Assignment {
        Assignment {
            generation: self.generation + 1,
            leader: leader.to_string(),
            members: members.to_vec(),
            connectors: balance(members, &self.connectors, connectors),
            tasks: balance(members, &self.tasks, tasks),
        }
    }
}

/// Spreads `units` over `members` so that counts differ by at most one, keeping each unit on
/// its previous owner unless that owner left or holds more than its share.
pub fn balance<T: Ord + Clone>(
    members: &[String],
    previous: &BTreeMap<String, Vec<T>>,
    units: &BTreeSet<T>,
) -> BTreeMap<String, Vec<T>> {
    let mut result: BTreeMap<String, Vec<T>> =
        members.iter().map(|m| (m.clone(), Vec::new())).collect();
    if members.is_empty() {
        return result;
    }
    let mut placed = BTreeSet::new();
    for (member, held) in previous {
        let Some(kept) = result.get_mut(member) else {
            continue;
        };
        for unit in held {
            if units.contains(unit) && placed.insert(unit.clone()) {
                kept.push(unit.clone());
            }
        }
        kept.sort();
    }
    // Quotas: the `extra` most loaded members may hold one more than the rest.
    let base = units.len() / members.len();
    let extra = units.len() % members.len();
    let mut by_load: Vec<&String> = members.iter().collect();
    by_load.sort_by_key(|m| (std::cmp::Reverse(result[*m].len()), (*m).clone()));
    let quota: BTreeMap<String, usize> = by_load
        .iter()
        .enumerate()
        .map(|(rank, m)| ((*m).clone(), base + usize::from(rank < extra)))
        .collect();
    let mut pool: BTreeSet<T> = units.difference(&placed).cloned().collect();
    for (member, held) in result.iter_mut() {
        while held.len() > quota[member] {
            pool.extend(held.pop());
        }
    }
    for unit in pool {
        let least_loaded = members
            .iter()
            .filter(|m| result[*m].len() < quota[*m])
            .min_by_key(|m| (result[*m].len(), (*m).clone()))
            .expect("quotas add up to the number of units")
            .clone();
        result.get_mut(&least_loaded).expect("a member").push(unit);
    }
    for held in result.values_mut() {
        held.sort();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn units(n: u32) -> BTreeSet<u32> {
        (0..n).collect()
    }

    fn spread(assignment: &BTreeMap<String, Vec<u32>>) -> (usize, usize) {
        let counts: Vec<usize> = assignment.values().map(Vec::len).collect();
        (*counts.iter().min().unwrap(), *counts.iter().max().unwrap())
    }

    fn moved(before: &BTreeMap<String, Vec<u32>>, after: &BTreeMap<String, Vec<u32>>) -> usize {
        after
            .iter()
            .map(|(member, held)| {
                let old = before.get(member).cloned().unwrap_or_default();
                held.iter().filter(|u| !old.contains(u)).count()
            })
            .sum()
    }

    #[test]
    fn balances_within_one_and_places_every_unit() {
        for workers in 1..6 {
            for count in 0..20 {
                let names: Vec<String> = (0..workers).map(|w| format!("w{w}")).collect();
                let result = balance(&names, &BTreeMap::new(), &units(count));
                let (min, max) = spread(&result);
                assert!(
                    max - min <= 1,
                    "{workers} workers, {count} units: {result:?}"
                );
                let placed: BTreeSet<u32> = result.values().flatten().copied().collect();
                assert_eq!(placed, units(count));
            }
        }
    }

    #[test]
    fn a_joining_worker_takes_only_its_share() {
        let three = members(&["a", "b", "c"]);
        let before = balance(&three, &BTreeMap::new(), &units(9));
        let four = members(&["a", "b", "c", "d"]);
        let after = balance(&four, &before, &units(9));
        assert_eq!(spread(&after), (2, 3));
        // Only what d now runs moved.
        assert_eq!(moved(&before, &after), after["d"].len());
    }

    #[test]
    fn a_departing_worker_moves_only_its_own_work() {
        let three = members(&["a", "b", "c"]);
        let before = balance(&three, &BTreeMap::new(), &units(7));
        let two = members(&["a", "c"]);
        let after = balance(&two, &before, &units(7));
        assert_eq!(spread(&after), (3, 4));
        assert_eq!(moved(&before, &after), before["b"].len());
    }

    #[test]
    fn new_units_go_to_the_least_loaded() {
        let three = members(&["a", "b", "c"]);
        let mut previous = BTreeMap::new();
        previous.insert("b".to_string(), vec![0]);
        let result = balance(&three, &previous, &units(3));
        assert_eq!(result["b"], vec![0]);
        assert_eq!(spread(&result), (1, 1));
    }

    #[test]
    fn owners_are_found() {
        let assignment = Assignment::default().rebalanced(
            "a",
            &members(&["a", "b"]),
            &["x".to_string()].into(),
            &[0, 1]
                .map(|task| TaskRef {
                    connector: "x".into(),
                    task,
                })
                .into(),
        );
        assert_eq!(assignment.generation, 1);
        assert!(assignment.connector_owner("x").is_some());
        assert_ne!(assignment.task_owner("x", 0), assignment.task_owner("x", 1));
        assert_eq!(assignment.task_owner("x", 2), None);
    }
}
