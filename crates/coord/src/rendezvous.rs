//! Which replica should lead which pool: rendezvous (highest-random-weight) hashing.
//!
//! Every replica computes, for a pool, a weight per live member from the pair (member, pool) and
//! prefers the member with the highest. Everyone who sees the same members agrees without
//! talking; a member that leaves moves only the pools it was preferred for (each to the member
//! that ranked second for it), and a member that joins takes only the pools it now ranks first
//! for — about `1/n` of them. The hash is written out here (FNV-1a, then the SplitMix64
//! finalizer), not `std`'s, so that replicas built by different compilers agree.

/// The weight of `member` for `pool`: higher wins.
pub fn weight(member: &str, pool: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    // 0xff never occurs in UTF-8, so ("ab", "c") and ("a", "bc") hash apart.
    for b in member.bytes().chain([0xff]).chain(pool.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    // SplitMix64's finalizer: FNV's low bits alone spread short, similar names poorly.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The member `pool` should be led by: the highest weight (ties, which need a 64-bit
/// collision, go to the greater name). `None` without members.
pub fn preferred<'a, I>(members: I, pool: &str) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    members
        .into_iter()
        .max_by(|a, b| (weight(a, pool), *a).cmp(&(weight(b, pool), *b)))
}

/// The members in the order `pool` prefers them, best first.
pub fn ranking<'a, I>(members: I, pool: &str) -> Vec<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut ranked: Vec<&str> = members.into_iter().collect();
    ranked.sort_by(|a, b| (weight(b, pool), *b).cmp(&(weight(a, pool), *a)));
    ranked.dedup();
    ranked
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn owners(members: &[String], pools: &[String]) -> BTreeMap<String, String> {
        pools
            .iter()
            .map(|p| {
                let m = preferred(members.iter().map(String::as_str), p).unwrap();
                (p.clone(), m.to_owned())
            })
            .collect()
    }

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    #[test]
    fn the_weight_is_fixed_and_depends_on_both_names() {
        // Pinned: replicas of different builds must agree.
        assert_eq!(weight("a", "b"), weight("a", "b"));
        assert_ne!(weight("ab", "c"), weight("a", "bc"));
        assert_ne!(weight("node-1", "gpu"), weight("node-2", "gpu"));
        assert_eq!(weight("sched-a", "default"), 0x0ec0_bc2b_6e55_056f);
    }

    #[test]
    fn preferred_is_the_head_of_the_ranking_and_ignores_order() {
        let m = names("sched-", 5);
        for pool in names("pool-", 50) {
            let ranked = ranking(m.iter().map(String::as_str), &pool);
            assert_eq!(ranked.len(), 5);
            assert_eq!(
                Some(ranked[0]),
                preferred(m.iter().map(String::as_str), &pool)
            );
            let reversed = preferred(m.iter().rev().map(String::as_str), &pool);
            assert_eq!(Some(ranked[0]), reversed);
        }
        assert_eq!(preferred(std::iter::empty(), "default"), None);
    }

    #[test]
    fn pools_spread_evenly_over_the_members() {
        // 20 pools over 3 replicas (the scale benchmark's shape) and 3 000 pools over 5.
        for (n_members, n_pools, tolerance) in [(3, 20, 4), (5, 3_000, 90)] {
            let members = names("hivesched-host-", n_members);
            let pools = names("pool-", n_pools);
            let mut load: BTreeMap<String, usize> = BTreeMap::new();
            for m in owners(&members, &pools).into_values() {
                *load.entry(m).or_default() += 1;
            }
            let fair = n_pools / n_members;
            assert_eq!(load.len(), n_members, "{load:?}");
            for (m, n) in &load {
                assert!(
                    n.abs_diff(fair) <= tolerance,
                    "{m} leads {n}, fair {fair}: {load:?}"
                );
            }
        }
    }

    #[test]
    fn a_member_leaving_or_joining_moves_only_its_own_pools() {
        let pools = names("p", 500);
        let members = names("node-", 4);
        let before = owners(&members, &pools);
        // node-2 leaves: exactly its pools move, and each to another live member.
        let left: Vec<String> = members.iter().filter(|m| *m != "node-2").cloned().collect();
        let after = owners(&left, &pools);
        for p in &pools {
            if before[p] == "node-2" {
                assert_ne!(after[p], "node-2");
            } else {
                assert_eq!(after[p], before[p], "{p} moved although its leader stayed");
            }
        }
        // node-9 joins: only pools that go to node-9 move, about a fifth of them.
        let mut joined = members.clone();
        joined.push("node-9".into());
        let after = owners(&joined, &pools);
        let moved: Vec<&String> = pools.iter().filter(|p| after[*p] != before[*p]).collect();
        assert!(moved.iter().all(|p| after[*p] == "node-9"));
        assert!(
            (70..=130).contains(&moved.len()),
            "{} of 500 moved",
            moved.len()
        );
    }
}
