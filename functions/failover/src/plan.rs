//! The failover decision, pure: which side DNS serves, and how the gate holds it there.
//!
//! Route53 failover routing gives the fast first fail-over natively (PRIMARY's gate follows the
//! site check), but it uses one threshold both ways and so flaps. halfhour adds the asymmetry:
//! after a fail-over the gate holds DNS on the static site until the site has been healthy
//! continuously for the hold-down; each fail-over inside the window doubles the hold-down; a
//! flip budget caps DNS changes per window; an operator pin overrides everything.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use halfhour::domain::dns::RecordSet;
use halfhour::domain::{BucketFound, ClusterName, Millis};

pub use halfhour::domain::dns::Gate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// The gate follows the site.
    Following,
    /// On static after a fail-over, until the site is healthy for the hold-down.
    HoldingStatic {
        since: Millis,
        healthy_since: Option<Millis>,
    },
    /// A DB failover explains the outage: hold on primary until the grace ends.
    DbGrace { until: Millis },
    /// An operator pinned the static site.
    Pinned { since: Millis },
    /// An operator pinned the load balancer (the health check itself is wrong).
    PinnedPrimary { since: Millis },
}

impl Mode {
    pub fn gate(self) -> Gate {
        match self {
            Mode::Following => Gate::Follow,
            Mode::HoldingStatic { .. } | Mode::Pinned { .. } => Gate::HoldStatic,
            Mode::DbGrace { .. } | Mode::PinnedPrimary { .. } => Gate::HoldPrimary,
        }
    }
}

/// Persisted in the state table, so a cold start resumes a hold where it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverState {
    pub mode: Mode,
    /// When DNS changed side (either way), for the flip budget.
    pub flips: Vec<Millis>,
    /// When DNS failed over to static, for the hold-down doubling (the gold-image loop reads it
    /// as `SiteFailovers`: a fail-over during a canary rolls the canary back).
    pub failovers: Vec<Millis>,
    /// When the spent budget was last announced (once per window).
    pub budget_notified_at: Option<Millis>,
    /// The side DNS served at the last decision, to count the flips Route53 made by itself.
    pub last_serving_primary: bool,
    /// The site's own AAAA record, as adopted: kept while DNS serves the load balancer, withdrawn
    /// while it serves the static page (which has no IPv6 address).
    #[serde(default)]
    pub ipv6: Option<RecordSet>,
    #[serde(default)]
    pub ipv6_withdrawn: bool,
}

impl Default for FailoverState {
    fn default() -> Self {
        FailoverState {
            mode: Mode::Following,
            flips: Vec::new(),
            failovers: Vec::new(),
            budget_notified_at: None,
            last_serving_primary: true,
            ipv6: None,
            ipv6_withdrawn: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub hold_down: Duration,
    pub hold_down_max: Duration,
    pub flip_window: Duration,
    pub flip_budget: usize,
    pub db_grace: Duration,
}

/// Why the plan chose what it chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    Healthy,
    FailedOver,
    DbWindowGrace,
    DbGraceHolding,
    GraceOver,
    HoldDown {
        remaining_s: u64,
    },
    SiteStillDown,
    FailedBack,
    FlipBudgetSpent,
    Pinned,
    PinnedPrimary,
    /// Unpinned from the load balancer: DNS follows the site again.
    Unpinned,
    /// halfhour is paused: the gate follows the site (Route53's own fail-over), pins stay.
    Paused,
}

/// What the operator asked for, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Operator {
    PinStatic,
    PinPrimary,
    Unpin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailoverDecision {
    pub next: FailoverState,
    pub reason: Reason,
    /// The static page must be published and verified before the gate moves to static.
    pub needs_static_page: bool,
    /// Operator-visible: send a notification.
    pub notify: bool,
}

fn within(times: &[Millis], now: Millis, window: Duration) -> usize {
    times.iter().filter(|t| now.since(**t) < window).count()
}

/// Hold-down after the `n`th fail-over inside the window: base, doubled for each further one.
pub fn hold_down(policy: &Policy, failovers_in_window: usize) -> Duration {
    let doublings = failovers_in_window.saturating_sub(1).min(16) as u32;
    policy
        .hold_down
        .saturating_mul(1 << doublings)
        .min(policy.hold_down_max)
}

fn record_side(next: &mut FailoverState, was_primary: bool, is_primary: bool, now: Millis) {
    if was_primary != is_primary {
        next.flips.push(now);
        if !is_primary {
            next.failovers.push(now);
        }
    }
    next.last_serving_primary = is_primary;
}

pub fn plan_failover(
    state: &FailoverState,
    site_healthy: bool,
    db_window: bool,
    paused: bool,
    operator: Option<Operator>,
    policy: &Policy,
    now: Millis,
) -> FailoverDecision {
    let mut decision = plan_side(
        state,
        site_healthy,
        db_window,
        paused,
        operator,
        policy,
        now,
    );
    // IPv6 has no static side (S3 website endpoints are IPv4 only, and Route53 aliases to them
    // only as A): the site's AAAA is withdrawn while DNS serves the static page, so dual-stack
    // clients follow the A record there; paused, halfhour withdraws nothing.
    let next = &mut decision.next;
    next.ipv6_withdrawn =
        next.ipv6.is_some() && !paused && !next.mode.gate().serves_primary(site_healthy);
    decision
}

/// Which side DNS serves, and how the gate holds it there.
fn plan_side(
    state: &FailoverState,
    site_healthy: bool,
    db_window: bool,
    paused: bool,
    operator: Option<Operator>,
    policy: &Policy,
    now: Millis,
) -> FailoverDecision {
    let mut next = state.clone();
    next.flips.retain(|t| now.since(*t) < policy.flip_window);
    next.failovers
        .retain(|t| now.since(*t) < policy.flip_window);
    // Count every DNS side change: the ones Route53 made since the last decision (the gate
    // follows the site natively) and the one this decision makes.
    let serving_primary = state.mode.gate().serves_primary(site_healthy);
    record_side(&mut next, state.last_serving_primary, serving_primary, now);
    let decide = |next: FailoverState, reason, needs_static_page, notify| FailoverDecision {
        next,
        reason,
        needs_static_page,
        notify,
    };
    let moved = |mut next: FailoverState, mode: Mode| {
        record_side(
            &mut next,
            serving_primary,
            mode.gate().serves_primary(site_healthy),
            now,
        );
        next.mode = mode;
        next
    };
    match operator {
        Some(Operator::PinStatic) => {
            let pinned = moved(next, Mode::Pinned { since: now });
            return decide(pinned, Reason::Pinned, true, true);
        }
        Some(Operator::PinPrimary) => {
            let pinned = moved(next, Mode::PinnedPrimary { since: now });
            return decide(pinned, Reason::PinnedPrimary, false, true);
        }
        Some(Operator::Unpin) if paused || matches!(state.mode, Mode::PinnedPrimary { .. }) => {
            // Off the load balancer pin the site check decides again (Route53 fails over if
            // it is down); paused, halfhour holds nothing.
            let following = moved(next, Mode::Following);
            return decide(following, Reason::Unpinned, false, true);
        }
        Some(Operator::Unpin) => {
            // Back to the machine, but through a hold-down: never straight to an unverified primary.
            let holding = moved(
                next,
                Mode::HoldingStatic {
                    since: now,
                    healthy_since: None,
                },
            );
            return decide(
                holding,
                Reason::HoldDown {
                    remaining_s: policy.hold_down.as_secs(),
                },
                true,
                true,
            );
        }
        None => {}
    }
    let fail_over = |next: FailoverState| {
        let holding = moved(
            next,
            Mode::HoldingStatic {
                since: now,
                healthy_since: None,
            },
        );
        decide(holding, Reason::FailedOver, true, true)
    };
    match state.mode {
        Mode::Pinned { .. } => decide(next, Reason::Pinned, false, false),
        Mode::PinnedPrimary { .. } => decide(next, Reason::PinnedPrimary, false, false),
        // The kill switch: hand DNS back to Route53's own fail-over, once.
        Mode::Following if paused => decide(next, Reason::Paused, false, false),
        _ if paused => {
            let following = moved(next, Mode::Following);
            decide(following, Reason::Paused, false, true)
        }
        // A DB failover is a known, short outage: hold primary through it, for the grace at most.
        Mode::Following if db_window => {
            let grace = moved(
                next,
                Mode::DbGrace {
                    until: now.plus(policy.db_grace),
                },
            );
            decide(grace, Reason::DbWindowGrace, false, true)
        }
        Mode::Following if site_healthy => decide(next, Reason::Healthy, false, false),
        Mode::Following => fail_over(next),
        Mode::DbGrace { until } if db_window && now < until => {
            decide(next, Reason::DbGraceHolding, false, false)
        }
        Mode::DbGrace { .. } if site_healthy => {
            let following = moved(next, Mode::Following);
            decide(following, Reason::GraceOver, false, false)
        }
        Mode::DbGrace { .. } => fail_over(next),
        Mode::HoldingStatic { since, .. } if !site_healthy => {
            next.mode = Mode::HoldingStatic {
                since,
                healthy_since: None,
            };
            decide(next, Reason::SiteStillDown, false, false)
        }
        Mode::HoldingStatic {
            since,
            healthy_since,
        } => {
            let healthy_since = healthy_since.unwrap_or(now);
            let hold = hold_down(
                policy,
                within(&next.failovers, now, policy.flip_window).max(1),
            );
            let healthy_for = now.since(healthy_since);
            if healthy_for < hold {
                next.mode = Mode::HoldingStatic {
                    since,
                    healthy_since: Some(healthy_since),
                };
                let remaining_s = (hold - healthy_for).as_secs();
                return decide(next, Reason::HoldDown { remaining_s }, false, false);
            }
            // Fail back only if the flip and a possible native fail-over after it both fit
            // the budget: the first fail-over is Route53's, halfhour cannot hold it back.
            if next.flips.len() + 2 > policy.flip_budget {
                next.mode = Mode::HoldingStatic {
                    since,
                    healthy_since: Some(healthy_since),
                };
                let announce = next
                    .budget_notified_at
                    .is_none_or(|t| now.since(t) >= policy.flip_window);
                if announce {
                    next.budget_notified_at = Some(now);
                }
                return decide(next, Reason::FlipBudgetSpent, false, announce);
            }
            let following = moved(next, Mode::Following);
            decide(following, Reason::FailedBack, false, true)
        }
    }
}

/// How the deploy gets the static site's bucket (named like the record, as S3 website hosting
/// requires, and retained when the stack is deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BucketStep {
    Create,
    /// This cluster's bucket, retained by an earlier stack: use it again.
    Adopt,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum BucketRefusal {
    OwnedElsewhere,
    /// It exists but is not tagged as this cluster's (untagged, or another cluster's).
    NotOurs {
        cluster_tag: Option<String>,
    },
}

pub fn plan_bucket(
    found: &BucketFound,
    cluster: &ClusterName,
) -> Result<BucketStep, BucketRefusal> {
    match found {
        BucketFound::Missing => Ok(BucketStep::Create),
        BucketFound::Exists { cluster_tag } if cluster_tag.as_deref() == Some(cluster.as_str()) => {
            Ok(BucketStep::Adopt)
        }
        BucketFound::Exists { cluster_tag } => Err(BucketRefusal::NotOurs {
            cluster_tag: cluster_tag.clone(),
        }),
        BucketFound::OwnedElsewhere => Err(BucketRefusal::OwnedElsewhere),
    }
}

/// One effect of a failover look; `apply` carries the steps out in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Publish halfhour's page where none is, and check visitors get it.
    PublishPage,
    /// Move the gate (the calculated check's HealthThreshold).
    SetGate(Gate),
    /// Withdraw the site's AAAA (the static page has no IPv6 address) or put it back.
    SyncIpv6 { aaaa: RecordSet, withdrawn: bool },
    /// Write the next state (conditionally: a change underneath is a conflict).
    WriteState,
    /// The flips added and whether DNS serves the static page, as metrics.
    Metrics { flips_added: u64, on_static: bool },
    /// Keep the decision record in the cluster's history.
    Remember,
    /// Tell the operator.
    Notify { reason: Reason, gate: Gate },
}

/// What a look found as it is, beside the state: the gate's threshold and the static page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Found {
    /// The gate check's threshold now (read only when acting).
    pub threshold: Option<i32>,
    /// The static page is missing or not this site's (read only when acting on a look).
    pub page_missing: bool,
}

/// The steps that carry `decision` out from `state`, repairing what `found` drifted.
pub fn steps(
    decision: &FailoverDecision,
    state: &FailoverState,
    found: Found,
    site_healthy: bool,
) -> Vec<Step> {
    let gate = decision.next.mode.gate();
    let mut steps = Vec::new();
    if decision.needs_static_page || found.page_missing {
        steps.push(Step::PublishPage);
    }
    if found
        .threshold
        .is_some_and(|now| Gate::from_threshold(now) != Some(gate))
    {
        steps.push(Step::SetGate(gate));
    }
    if let (true, Some(aaaa)) = (
        decision.next.ipv6_withdrawn != state.ipv6_withdrawn,
        &decision.next.ipv6,
    ) {
        steps.push(Step::SyncIpv6 {
            aaaa: aaaa.clone(),
            withdrawn: decision.next.ipv6_withdrawn,
        });
    }
    if decision.next != *state {
        steps.push(Step::WriteState);
    }
    steps.push(Step::Metrics {
        flips_added: decision.next.flips.len().saturating_sub(state.flips.len()) as u64,
        on_static: !gate.serves_primary(site_healthy),
    });
    if decision.notify {
        steps.extend([
            Step::Remember,
            Step::Notify {
                reason: decision.reason,
                gate,
            },
        ]);
    }
    steps
}

/// Whether carrying `steps` out changes anything: metrics only measure, so a look that only
/// measures needs no lease.
pub fn changes_something(steps: &[Step]) -> bool {
    steps.iter().any(|s| !matches!(s, Step::Metrics { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_look_that_changes_nothing_only_measures() {
        let state = FailoverState::default();
        let decision = FailoverDecision {
            next: state.clone(),
            reason: Reason::Healthy,
            needs_static_page: false,
            notify: false,
        };
        let found = Found {
            threshold: Some(Gate::Follow.threshold()),
            page_missing: false,
        };
        let steps = steps(&decision, &state, found, true);
        assert_eq!(
            steps,
            vec![Step::Metrics {
                flips_added: 0,
                on_static: false
            }]
        );
        assert!(!changes_something(&steps));
    }

    #[test]
    fn a_fail_over_publishes_writes_measures_remembers_and_notifies_in_that_order() {
        let state = FailoverState::default();
        let now = Millis(1_000);
        let next = FailoverState {
            mode: Mode::HoldingStatic {
                since: now,
                healthy_since: None,
            },
            flips: vec![now],
            failovers: vec![now],
            ..state.clone()
        };
        let decision = FailoverDecision {
            next,
            reason: Reason::FailedOver,
            needs_static_page: true,
            notify: true,
        };
        let found = Found {
            threshold: Some(Gate::Follow.threshold()),
            page_missing: false,
        };
        let steps = steps(&decision, &state, found, false);
        assert_eq!(
            steps,
            vec![
                Step::PublishPage,
                Step::SetGate(Gate::HoldStatic),
                Step::WriteState,
                Step::Metrics {
                    flips_added: 1,
                    on_static: true
                },
                Step::Remember,
                Step::Notify {
                    reason: Reason::FailedOver,
                    gate: Gate::HoldStatic
                },
            ]
        );
        assert!(changes_something(&steps));
    }

    const POLICY: Policy = Policy {
        hold_down: Duration::from_secs(300),
        hold_down_max: Duration::from_secs(3600),
        flip_window: Duration::from_secs(3600),
        flip_budget: 4,
        db_grace: Duration::from_secs(180),
    };

    fn s(secs: i64) -> Millis {
        Millis(secs * 1000)
    }

    #[test]
    fn fail_over_then_hold_down_then_fail_back() {
        let start = FailoverState::default();
        let down = plan_failover(&start, false, false, false, None, &POLICY, s(0));
        assert_eq!(down.reason, Reason::FailedOver);
        assert!(down.needs_static_page && down.notify);
        assert_eq!(down.next.mode.gate(), Gate::HoldStatic);
        let back_up = plan_failover(&down.next, true, false, false, None, &POLICY, s(60));
        assert_eq!(back_up.reason, Reason::HoldDown { remaining_s: 300 });
        // A relapse restarts the continuity clock.
        let relapse = plan_failover(&back_up.next, false, false, false, None, &POLICY, s(200));
        let up_again = plan_failover(&relapse.next, true, false, false, None, &POLICY, s(260));
        let still = plan_failover(&up_again.next, true, false, false, None, &POLICY, s(500));
        assert_eq!(still.reason, Reason::HoldDown { remaining_s: 60 });
        let back = plan_failover(&still.next, true, false, false, None, &POLICY, s(560));
        assert_eq!(back.reason, Reason::FailedBack);
        assert_eq!(back.next.mode, Mode::Following);
        assert_eq!(back.next.flips.len(), 2);
    }

    #[test]
    fn each_further_fail_over_doubles_the_hold_down() {
        assert_eq!(hold_down(&POLICY, 1), Duration::from_secs(300));
        assert_eq!(hold_down(&POLICY, 2), Duration::from_secs(600));
        assert_eq!(hold_down(&POLICY, 5), Duration::from_secs(3600), "capped");
    }

    #[test]
    fn db_window_holds_primary_for_the_grace_only() {
        let start = FailoverState::default();
        // The window opens (db-events) while the site is still up: the gate holds primary.
        let grace = plan_failover(&start, true, true, false, None, &POLICY, s(0));
        assert_eq!(
            (grace.reason, grace.next.mode.gate()),
            (Reason::DbWindowGrace, Gate::HoldPrimary)
        );
        let holding = plan_failover(&grace.next, false, true, false, None, &POLICY, s(120));
        assert_eq!(holding.reason, Reason::DbGraceHolding);
        assert!(
            holding.next.mode.gate().serves_primary(false),
            "the outage does not move DNS"
        );
        let closed = plan_failover(&holding.next, true, false, false, None, &POLICY, s(150));
        assert_eq!(
            (closed.reason, closed.next.mode),
            (Reason::GraceOver, Mode::Following)
        );
        assert!(closed.next.flips.is_empty(), "DNS never moved");
        let over = plan_failover(&holding.next, false, true, false, None, &POLICY, s(181));
        assert_eq!(over.reason, Reason::FailedOver);
    }

    #[test]
    fn pin_overrides_everything_and_unpin_goes_through_a_hold_down() {
        let pinned = plan_failover(
            &FailoverState::default(),
            true,
            false,
            false,
            Some(Operator::PinStatic),
            &POLICY,
            s(0),
        );
        assert_eq!(pinned.next.mode.gate(), Gate::HoldStatic);
        assert!(pinned.needs_static_page);
        let stays = plan_failover(&pinned.next, true, false, false, None, &POLICY, s(10_000));
        assert_eq!(stays.reason, Reason::Pinned);
        let unpinned = plan_failover(
            &stays.next,
            true,
            false,
            false,
            Some(Operator::Unpin),
            &POLICY,
            s(10_001),
        );
        assert!(matches!(unpinned.next.mode, Mode::HoldingStatic { .. }));
    }

    #[test]
    fn only_this_clusters_retained_bucket_is_used_again() {
        let prod = ClusterName::new("prod").unwrap();
        let tagged = |tag: Option<&str>| BucketFound::Exists {
            cluster_tag: tag.map(str::to_owned),
        };
        assert_eq!(
            plan_bucket(&BucketFound::Missing, &prod),
            Ok(BucketStep::Create)
        );
        assert_eq!(
            plan_bucket(&tagged(Some("prod")), &prod),
            Ok(BucketStep::Adopt)
        );
        assert_eq!(
            plan_bucket(&tagged(Some("staging")), &prod),
            Err(BucketRefusal::NotOurs {
                cluster_tag: Some("staging".into())
            })
        );
        assert!(plan_bucket(&tagged(None), &prod).is_err());
        assert_eq!(
            plan_bucket(&BucketFound::OwnedElsewhere, &prod),
            Err(BucketRefusal::OwnedElsewhere)
        );
    }

    #[test]
    fn an_adopted_aaaa_is_withdrawn_while_dns_serves_the_static_page() {
        let aaaa = RecordSet {
            name: "www.example.com.".into(),
            kind: "AAAA".into(),
            set_identifier: None,
            failover: None,
            health_check_id: None,
            alias: None,
            ttl: Some(300),
            values: vec!["2001:db8::1".into()],
        };
        let dual = FailoverState {
            ipv6: Some(aaaa),
            ..FailoverState::default()
        };
        let down = plan_failover(&dual, false, false, false, None, &POLICY, s(0));
        assert!(down.next.ipv6_withdrawn);
        let held = plan_failover(&down.next, true, false, false, None, &POLICY, s(60));
        assert!(
            held.next.ipv6_withdrawn,
            "still on static through the hold-down"
        );
        let back = plan_failover(&held.next, true, false, false, None, &POLICY, s(400));
        assert_eq!(back.reason, Reason::FailedBack);
        assert!(!back.next.ipv6_withdrawn);
        let paused = plan_failover(&down.next, false, false, true, None, &POLICY, s(60));
        assert!(!paused.next.ipv6_withdrawn, "paused: given back");
        let v4 = plan_failover(
            &FailoverState::default(),
            false,
            false,
            false,
            None,
            &POLICY,
            s(0),
        );
        assert!(
            !v4.next.ipv6_withdrawn,
            "nothing adopted, nothing withdrawn"
        );
    }

    #[test]
    fn pin_primary_holds_the_load_balancer_through_an_outage_and_unpin_follows_the_site() {
        let at = |state: &FailoverState, site, operator, secs| {
            plan_failover(state, site, false, false, operator, &POLICY, s(secs))
        };
        let pinned = at(
            &FailoverState::default(),
            true,
            Some(Operator::PinPrimary),
            0,
        );
        assert_eq!(pinned.next.mode.gate(), Gate::HoldPrimary);
        assert!(pinned.notify && !pinned.needs_static_page);
        let outage = at(&pinned.next, false, None, 60);
        assert_eq!(outage.reason, Reason::PinnedPrimary);
        assert!(outage.next.mode.gate().serves_primary(false));
        let unpinned = at(&outage.next, false, Some(Operator::Unpin), 120);
        assert_eq!(
            (unpinned.next.mode, unpinned.reason),
            (Mode::Following, Reason::Unpinned)
        );
        assert!(!unpinned.next.mode.gate().serves_primary(false));
    }

    #[test]
    fn a_pause_hands_dns_back_to_route53_and_keeps_an_operator_pin() {
        let paused = |state: &FailoverState, site, secs| {
            plan_failover(state, site, false, true, None, &POLICY, s(secs))
        };
        let down = plan_failover(
            &FailoverState::default(),
            false,
            false,
            false,
            None,
            &POLICY,
            s(0),
        );
        assert_eq!(down.next.mode.gate(), Gate::HoldStatic);
        let released = paused(&down.next, true, 60);
        assert_eq!(
            (released.next.mode, released.reason),
            (Mode::Following, Reason::Paused)
        );
        assert!(released.notify);
        let again = paused(&released.next, false, 120);
        assert_eq!((again.reason, again.notify), (Reason::Paused, false));
        assert_eq!(again.next.mode, Mode::Following);
        let db = plan_failover(
            &FailoverState::default(),
            false,
            true,
            true,
            None,
            &POLICY,
            s(0),
        );
        assert_eq!(
            db.next.mode,
            Mode::Following,
            "no DB grace hold while paused"
        );
        for pin in [Operator::PinStatic, Operator::PinPrimary] {
            let pinned = plan_failover(
                &FailoverState::default(),
                true,
                false,
                true,
                Some(pin),
                &POLICY,
                s(0),
            );
            let kept = paused(&pinned.next, true, 60);
            assert_eq!(kept.next.mode, pinned.next.mode, "{pin:?} survives a pause");
        }
    }

    /// xorshift64*: a seeded generator, so the adversarial hour is the same on every run.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn between(&mut self, low: u64, high: u64) -> u64 {
            low + self.next() % (high - low + 1)
        }
    }

    /// An hour of site health flipping every 20–90 s, then stable. The Lambda runs at each
    /// health change (the alarm) and every minute (the reconciler). DNS is what Route53 would
    /// answer at every second, natively following the gate.
    #[test]
    fn adversarial_hour_stays_within_the_budget_and_fails_back_once() {
        for seed in [1u64, 7, 42, 1234, 99_991] {
            let mut rng = Rng(seed);
            let mut changes = Vec::new();
            let mut t = 0;
            let mut healthy = true;
            while t < 3600 {
                t += rng.between(20, 90);
                healthy = !healthy;
                changes.push((t, healthy));
            }
            changes.push((t + 1, true));
            let end = t + 3 * 3600;
            let mut state = FailoverState::default();
            let mut site = true;
            let mut serving_primary = true;
            let (mut dns_flips, mut fail_backs_after_storm) = (0, 0);
            let mut next_change = changes.iter().peekable();
            for second in 0..end {
                let mut invoke = second % 60 == 0;
                while let Some((at, h)) = next_change.peek() {
                    if *at > second {
                        break;
                    }
                    site = *h;
                    invoke = true;
                    next_change.next();
                }
                if invoke {
                    let decision =
                        plan_failover(&state, site, false, false, None, &POLICY, s(second as i64));
                    if decision.reason == Reason::FailedBack && second > t {
                        fail_backs_after_storm += 1;
                    }
                    if matches!(state.mode, Mode::HoldingStatic { .. }) {
                        assert!(
                            decision.next.mode == Mode::Following
                                || !decision.next.mode.gate().serves_primary(site),
                            "seed {seed}: primary served during a hold"
                        );
                    }
                    state = decision.next;
                }
                let now_primary = state.mode.gate().serves_primary(site);
                if now_primary != serving_primary {
                    dns_flips += 1;
                    serving_primary = now_primary;
                }
            }
            assert!(
                dns_flips <= POLICY.flip_budget,
                "seed {seed}: {dns_flips} DNS flips"
            );
            assert_eq!(
                fail_backs_after_storm, 1,
                "seed {seed}: exactly one fail-back once stable"
            );
            assert!(serving_primary, "seed {seed}: back on primary at the end");
        }
    }
}
