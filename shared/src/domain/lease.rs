//! The per-cluster lease: one writer mutates a cluster at a time.

use super::Millis;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until: Millis,
}

impl Lease {
    pub fn is_expired(&self, now: Millis) -> bool {
        self.until <= now
    }

    /// `me` may take the lease if nobody holds it, it expired, or `me` already holds it.
    pub fn may_be_taken_by(existing: Option<&Lease>, me: &str, now: Millis) -> bool {
        existing.is_none_or(|lease| lease.owner == me || lease.is_expired(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(owner: &str, until: i64) -> Lease {
        Lease {
            owner: owner.into(),
            until: Millis(until),
        }
    }

    #[test]
    fn free_lease_may_be_taken() {
        assert!(Lease::may_be_taken_by(None, "a", Millis(0)));
    }

    #[test]
    fn held_lease_is_refused_to_others_until_it_expires() {
        let held = lease("a", 100);
        assert!(!Lease::may_be_taken_by(Some(&held), "b", Millis(99)));
        assert!(Lease::may_be_taken_by(Some(&held), "b", Millis(100)));
        assert!(Lease::may_be_taken_by(Some(&held), "a", Millis(50)));
    }
}
