//! The lifecycle decisions, pure: when a launching instance may serve, when it is broken, when
//! a terminating one may go, and when abandons mean the image is broken.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use halfhour::domain::image::{GroupTemplate, Rollout};
use halfhour::domain::{
    HandsOff, InstanceStatus, LaunchTemplateId, LifecycleResult, Millis, ProbeOutcome,
    StatusChecks, TemplateVersion,
};

/// What was seen of a launching instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchObserved {
    /// Still in Pending:Wait (otherwise its action is done, by us or by a timeout).
    pub waiting: bool,
    pub status: InstanceStatus,
    /// Asked only once EC2's checks pass.
    pub probe: Option<ProbeOutcome>,
    /// Time since the lifecycle action started.
    pub waited: Duration,
    pub db_failover: bool,
    pub breaker_open: bool,
    /// Launching into the warm pool: it is not meant to serve there, so nothing is probed.
    pub into_warm_pool: bool,
    /// Observe mode or paused: nothing is probed and halfhour holds no launch.
    pub hands_off: Option<HandsOff>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaitReason {
    Booting,
    ProbePending,
    /// Systems Manager cannot reach the instance yet (its agent registers after boot).
    NotReachableYet,
    ProbeFailingWithinBudget,
    /// Broken-looking, but the database is failing over: the app is down because of the DB.
    DbFailoverWindow,
    /// Broken, but the circuit breaker is open: abandoning would only launch the same image.
    BreakerOpen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BrokenReason {
    Impaired,
    NotReadyInBudget,
    /// Systems Manager never reached it: no instance profile, or no route to Systems Manager.
    NotReachableInBudget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LaunchDecision {
    Continue,
    /// Record a heartbeat and look again later.
    Wait {
        reason: WaitReason,
    },
    Abandon {
        reason: BrokenReason,
    },
    /// Nothing to do: the instance is no longer waiting.
    NotWaiting,
    /// CONTINUE into the warm pool; it is probed on its way into the group.
    IntoWarmPool,
    /// CONTINUE at once, unprobed: in observe mode or paused, halfhour never holds capacity
    /// (the group behaves as if it had no hook).
    FailOpen {
        why: HandsOff,
    },
}

pub fn plan_launch(observed: &LaunchObserved, budget: Duration) -> LaunchDecision {
    if !observed.waiting {
        return LaunchDecision::NotWaiting;
    }
    if let Some(why) = observed.hands_off {
        return LaunchDecision::FailOpen { why };
    }
    if observed.into_warm_pool {
        return LaunchDecision::IntoWarmPool;
    }
    let over_budget = observed.waited >= budget;
    let ready_to_probe = observed.status.running && observed.status.checks == StatusChecks::Ok;
    let broken = match (&observed.probe, observed.status.checks) {
        (_, StatusChecks::Impaired) => Some(BrokenReason::Impaired),
        (Some(ProbeOutcome::Healthy), _) if ready_to_probe => return LaunchDecision::Continue,
        (Some(ProbeOutcome::Unreachable), _) if over_budget => {
            Some(BrokenReason::NotReachableInBudget)
        }
        _ if over_budget => Some(BrokenReason::NotReadyInBudget),
        _ => None,
    };
    match broken {
        Some(_) if observed.db_failover => LaunchDecision::Wait {
            reason: WaitReason::DbFailoverWindow,
        },
        Some(_) if observed.breaker_open => LaunchDecision::Wait {
            reason: WaitReason::BreakerOpen,
        },
        Some(reason) => LaunchDecision::Abandon { reason },
        None => LaunchDecision::Wait {
            reason: match &observed.probe {
                None => WaitReason::Booting,
                Some(ProbeOutcome::Pending | ProbeOutcome::Healthy) => WaitReason::ProbePending,
                Some(ProbeOutcome::Unreachable) => WaitReason::NotReachableYet,
                Some(ProbeOutcome::Failing(_)) => WaitReason::ProbeFailingWithinBudget,
            },
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TerminateDecision {
    /// Connections still drain: heartbeat and look again.
    WaitForDrain,
    Continue,
    NotWaiting,
    /// CONTINUE at once, undrained by halfhour: observe mode or paused.
    FailOpen {
        why: HandsOff,
    },
}

/// A terminating instance goes once it has drained, or once draining took `drain_max` (never
/// block scale-in beyond a bound); with hands off it goes at once.
pub fn plan_terminate(
    waiting: bool,
    draining: bool,
    waited: Duration,
    drain_max: Duration,
    hands_off: Option<HandsOff>,
) -> TerminateDecision {
    match (waiting, draining, hands_off) {
        (false, _, _) => TerminateDecision::NotWaiting,
        (true, _, Some(why)) => TerminateDecision::FailOpen { why },
        (true, true, None) if waited < drain_max => TerminateDecision::WaitForDrain,
        _ => TerminateDecision::Continue,
    }
}

/// The breaker is open when `breaker.abandons` abandons fell within the last `breaker.window`.
pub fn breaker_open(abandons: &[Millis], now: Millis, breaker: Breaker) -> bool {
    abandons
        .iter()
        .filter(|t| now.since(**t) < breaker.window)
        .count()
        >= breaker.abandons
}

/// How the breaker stops launching a broken roll-out. A group launches the version it names,
/// not the template's default, so the default alone reverts nothing a pinned group launches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Revert {
    /// The roll-out's refresh is still running: RollbackInstanceRefresh (AWS replaces what it
    /// launched with the group's own, previous, version).
    pub rollback_refresh: bool,
    /// The group names the broken version: name the good one again.
    pub pin_group_to: Option<i64>,
    /// The template's default is the broken version: the next bake copies the good one.
    pub default_to: Option<i64>,
}

impl Revert {
    pub fn is_nothing(&self) -> bool {
        *self == Revert::default()
    }
}

/// What to revert after `rollout`, given what the group names, the template's default, and
/// whether the roll-out's refresh still runs.
pub fn plan_revert(
    rollout: &Rollout,
    group_version: TemplateVersion,
    default_version: i64,
    refresh_running: bool,
) -> Revert {
    let (Some(good), Some(bad)) = (rollout.previous_version, rollout.new_version) else {
        return Revert::default();
    };
    // AWS refuses to roll back a group on `$Default`/`$Latest`; a pinned group can be.
    let rollback_refresh = refresh_running && group_version.number().is_some();
    Revert {
        rollback_refresh,
        // While a refresh runs AWS refuses launch-template updates; its rollback restores the group.
        pin_group_to: (!refresh_running && group_version == TemplateVersion::Number(bad))
            .then_some(good),
        default_to: (default_version == bad).then_some(good),
    }
}

/// One effect of a lifecycle decision; `apply` carries the steps out in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Step {
    /// CompleteLifecycleAction (AWS's "no active action" is fine once the instance has left its
    /// wait state).
    Complete(LifecycleResult),
    /// CONTINUE and nothing else: observe mode's one call, which writes nothing (an action
    /// already completed is no concern of ours).
    HandBack,
    /// RecordLifecycleActionHeartbeat, with the same tolerance as `Complete`.
    Heartbeat,
    /// Drop the instance's wait and probe records.
    Forget,
    /// Count the abandon in the breaker's window; [`after_abandon`] says whether it trips.
    CountAbandon,
    /// Revert what the group launches: `abandons` fell within the window.
    TripBreaker { abandons: usize },
    /// Keep the decision record in the cluster's history.
    Remember,
}

impl LaunchDecision {
    /// What carrying the decision out takes. In observe mode only the hand-back is a call.
    pub fn steps(self, dry_run: bool) -> Vec<Step> {
        use LifecycleResult::{Abandon, Continue};
        match self {
            LaunchDecision::FailOpen { .. } if dry_run => vec![Step::HandBack],
            _ if dry_run => vec![],
            LaunchDecision::Continue
            | LaunchDecision::IntoWarmPool
            | LaunchDecision::FailOpen { .. } => {
                vec![Step::Complete(Continue), Step::Forget, Step::Remember]
            }
            LaunchDecision::Wait { .. } => vec![Step::Heartbeat],
            LaunchDecision::Abandon { .. } => vec![
                Step::Complete(Abandon),
                Step::Forget,
                Step::CountAbandon,
                Step::Remember,
            ],
            LaunchDecision::NotWaiting => vec![Step::Forget],
        }
    }
}

impl TerminateDecision {
    /// What carrying the decision out takes. In observe mode only the hand-back is a call.
    pub fn steps(self, dry_run: bool) -> Vec<Step> {
        match self {
            TerminateDecision::FailOpen { .. } if dry_run => vec![Step::HandBack],
            _ if dry_run => vec![],
            TerminateDecision::Continue | TerminateDecision::FailOpen { .. } => vec![
                Step::Complete(LifecycleResult::Continue),
                Step::Forget,
                Step::Remember,
            ],
            TerminateDecision::WaitForDrain => vec![Step::Heartbeat],
            TerminateDecision::NotWaiting => vec![Step::Forget],
        }
    }
}

/// The breaker's settings: `abandons` within `window` open it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    pub window: Duration,
    pub abandons: usize,
}

/// The abandon at `now` joins the window's record; older ones leave it.
pub fn count_abandon(abandons: &mut Vec<Millis>, now: Millis, breaker: Breaker) {
    abandons.retain(|t| now.since(*t) < breaker.window);
    abandons.push(now);
}

/// After an abandon was counted (`abandons` as recorded, with any written concurrently): the
/// breaker trips when they open it, once per window.
pub fn after_abandon(
    abandons: &[Millis],
    tripped_at: Option<Millis>,
    now: Millis,
    breaker: Breaker,
) -> Option<Step> {
    let tripped_recently = tripped_at.is_some_and(|t| now.since(t) < breaker.window);
    (breaker_open(abandons, now, breaker) && !tripped_recently).then_some(Step::TripBreaker {
        abandons: abandons.len(),
    })
}

/// One call of the breaker's revert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RevertStep {
    RollbackRefresh,
    PinGroupTo {
        template_id: LaunchTemplateId,
        version: i64,
    },
    DefaultTo {
        template_id: LaunchTemplateId,
        version: i64,
    },
}

impl Revert {
    /// The calls, on the group's launch template `template_id`.
    fn steps(&self, template_id: &LaunchTemplateId) -> Vec<RevertStep> {
        let rollback = self.rollback_refresh.then_some(RevertStep::RollbackRefresh);
        let pin = self.pin_group_to.map(|version| RevertStep::PinGroupTo {
            template_id: template_id.clone(),
            version,
        });
        let default = self.default_to.map(|version| RevertStep::DefaultTo {
            template_id: template_id.clone(),
            version,
        });
        [rollback, pin, default].into_iter().flatten().collect()
    }
}

/// What the breaker saw when it tripped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TripObserved {
    /// The group's launch template and the version it names, if it launches from one.
    pub group_template: Option<GroupTemplate>,
    /// The last roll-out, as the gold-image loop recorded it.
    pub rollout: Option<Rollout>,
    pub default_version: Option<i64>,
    pub refresh_running: bool,
}

/// The breaker's revert and how to say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trip {
    pub revert: Revert,
    pub steps: Vec<RevertStep>,
    /// One sentence: what the group launches now.
    pub what: String,
    pub next_step: &'static str,
}

pub fn plan_trip(observed: &TripObserved) -> Trip {
    let (revert, steps) = match (
        &observed.group_template,
        &observed.rollout,
        observed.default_version,
    ) {
        (Some(template), Some(rollout), Some(default)) => {
            let revert = plan_revert(rollout, template.version, default, observed.refresh_running);
            (revert, revert.steps(&template.id))
        }
        _ => (Revert::default(), Vec::new()),
    };
    let versions = observed.rollout.as_ref().map(|r| {
        (
            r.new_version.unwrap_or_default(),
            r.previous_version.unwrap_or_default(),
        )
    });
    let what = match versions.filter(|_| !revert.is_nothing()) {
        None => "no known good launch-template version to revert to".to_owned(),
        Some((bad, good)) => format!(
            "{}the group launches version {good} again instead of {bad}{}",
            if revert.rollback_refresh {
                "the instance refresh rolling it out was rolled back; "
            } else {
                ""
            },
            if revert.default_to.is_some() {
                ", and it is the template's default again"
            } else {
                ""
            }
        ),
    };
    let next_step = if revert.is_nothing() {
        "Please look: the group still launches the image its instances fail on; point it at a known good launch-template version."
    } else {
        "Look at the broken image's instances (their console output, the application's logs) before the next bake."
    };
    Trip {
        revert,
        steps,
        what,
        next_step,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn observe_mode_hands_back_and_writes_nothing() {
        let observe = LaunchDecision::FailOpen {
            why: HandsOff::ObserveMode,
        };
        assert_eq!(observe.steps(true), vec![Step::HandBack]);
        for decision in [
            LaunchDecision::Continue,
            LaunchDecision::Wait {
                reason: WaitReason::Booting,
            },
            LaunchDecision::Abandon {
                reason: BrokenReason::Impaired,
            },
            LaunchDecision::NotWaiting,
        ] {
            assert_eq!(decision.steps(true), vec![], "{decision:?}");
        }
        assert_eq!(TerminateDecision::WaitForDrain.steps(true), vec![]);
        let paused = TerminateDecision::FailOpen {
            why: HandsOff::Paused,
        };
        assert_eq!(
            paused.steps(false),
            vec![
                Step::Complete(LifecycleResult::Continue),
                Step::Forget,
                Step::Remember
            ]
        );
    }

    #[test]
    fn an_abandon_is_counted_before_it_is_remembered() {
        let abandon = LaunchDecision::Abandon {
            reason: BrokenReason::NotReadyInBudget,
        };
        assert_eq!(
            abandon.steps(false),
            vec![
                Step::Complete(LifecycleResult::Abandon),
                Step::Forget,
                Step::CountAbandon,
                Step::Remember
            ]
        );
    }

    #[test]
    fn the_breaker_trips_once_per_window() {
        let breaker = Breaker {
            window: Duration::from_secs(1800),
            abandons: 3,
        };
        let mut abandons = vec![Millis(0), Millis(1_000)];
        count_abandon(&mut abandons, Millis(2_000_000), breaker);
        assert_eq!(
            abandons,
            vec![Millis(2_000_000)],
            "old abandons leave the window"
        );
        let recent = [Millis(1_000), Millis(2_000), Millis(3_000)];
        assert_eq!(
            after_abandon(&recent, None, Millis(4_000), breaker),
            Some(Step::TripBreaker { abandons: 3 })
        );
        assert_eq!(
            after_abandon(&recent[..2], None, Millis(4_000), breaker),
            None
        );
        assert_eq!(
            after_abandon(&recent, Some(Millis(500)), Millis(4_000), breaker),
            None,
            "tripped within the window already"
        );
        assert_eq!(
            after_abandon(&recent, Some(Millis(0)), Millis(1_900_000), breaker),
            None,
            "the abandons themselves have left the window"
        );
    }

    #[test]
    fn a_trip_without_a_known_roll_out_reverts_nothing_and_says_so() {
        let observed = TripObserved {
            group_template: Some(GroupTemplate {
                id: "lt-1".into(),
                version: TemplateVersion::Number(5),
            }),
            rollout: None,
            default_version: None,
            refresh_running: false,
        };
        let trip = plan_trip(&observed);
        assert!(trip.steps.is_empty());
        assert!(trip.what.contains("no known good"), "{}", trip.what);
        assert!(trip.next_step.starts_with("Please look"));
        let observed = TripObserved {
            rollout: Some(Rollout {
                previous_version: Some(4),
                new_version: Some(5),
                refresh_id: None,
            }),
            default_version: Some(5),
            ..observed
        };
        let trip = plan_trip(&observed);
        assert_eq!(
            trip.steps,
            vec![
                RevertStep::PinGroupTo {
                    template_id: "lt-1".into(),
                    version: 4
                },
                RevertStep::DefaultTo {
                    template_id: "lt-1".into(),
                    version: 4
                }
            ]
        );
        assert_eq!(
            trip.what,
            "the group launches version 4 again instead of 5, and it is the template's default again"
        );
    }

    #[test]
    fn the_breaker_reverts_what_the_group_launches() {
        let rollout = Rollout {
            previous_version: Some(4),
            new_version: Some(5),
            refresh_id: Some("r".into()),
        };
        use TemplateVersion::*;
        assert_eq!(
            plan_revert(&rollout, Number(5), 5, false),
            Revert {
                rollback_refresh: false,
                pin_group_to: Some(4),
                default_to: Some(4)
            },
            "a finished refresh wrote version 5 into the group"
        );
        assert_eq!(
            plan_revert(&rollout, Number(4), 5, true),
            Revert {
                rollback_refresh: true,
                pin_group_to: None,
                default_to: Some(4)
            },
            "a running refresh is rolled back"
        );
        assert_eq!(
            plan_revert(&rollout, Default, 5, false),
            Revert {
                rollback_refresh: false,
                pin_group_to: None,
                default_to: Some(4)
            },
            "a group on $Default follows the default"
        );
        assert!(plan_revert(&rollout, Number(4), 4, false).is_nothing());
        let unknown = Rollout {
            previous_version: None,
            new_version: Some(5),
            refresh_id: None,
        };
        assert!(plan_revert(&unknown, Number(5), 5, false).is_nothing());
    }

    const BUDGET: Duration = Duration::from_secs(600);

    fn ok() -> InstanceStatus {
        InstanceStatus {
            running: true,
            checks: StatusChecks::Ok,
        }
    }

    fn observed(probe: Option<ProbeOutcome>, waited: u64) -> LaunchObserved {
        LaunchObserved {
            waiting: true,
            status: ok(),
            probe,
            waited: Duration::from_secs(waited),
            db_failover: false,
            breaker_open: false,
            into_warm_pool: false,
            hands_off: None,
        }
    }

    #[test]
    fn table() {
        use LaunchDecision::*;
        let failing = || Some(ProbeOutcome::Failing("503".into()));
        let booting = InstanceStatus {
            running: true,
            checks: StatusChecks::Initializing,
        };
        let impaired = InstanceStatus {
            running: true,
            checks: StatusChecks::Impaired,
        };
        let cases: Vec<(&str, LaunchObserved, LaunchDecision)> = vec![
            (
                "healthy probe serves",
                observed(Some(ProbeOutcome::Healthy), 10),
                Continue,
            ),
            (
                "an instance going into the warm pool is not probed",
                LaunchObserved {
                    into_warm_pool: true,
                    hands_off: None,
                    ..observed(None, 10)
                },
                IntoWarmPool,
            ),
            (
                "an instance SSM cannot reach yet waits",
                observed(Some(ProbeOutcome::Unreachable), 10),
                Wait {
                    reason: WaitReason::NotReachableYet,
                },
            ),
            (
                "one SSM never reached is abandoned after the budget",
                observed(Some(ProbeOutcome::Unreachable), 600),
                Abandon {
                    reason: BrokenReason::NotReachableInBudget,
                },
            ),
            (
                "booting waits",
                LaunchObserved {
                    status: booting,
                    ..observed(None, 10)
                },
                Wait {
                    reason: WaitReason::Booting,
                },
            ),
            (
                "failing within budget waits",
                observed(failing(), 100),
                Wait {
                    reason: WaitReason::ProbeFailingWithinBudget,
                },
            ),
            (
                "failing past budget abandons",
                observed(failing(), 600),
                Abandon {
                    reason: BrokenReason::NotReadyInBudget,
                },
            ),
            (
                "never ready past budget abandons",
                LaunchObserved {
                    status: booting,
                    ..observed(None, 700)
                },
                Abandon {
                    reason: BrokenReason::NotReadyInBudget,
                },
            ),
            (
                "impaired abandons at once",
                LaunchObserved {
                    status: impaired,
                    ..observed(None, 1)
                },
                Abandon {
                    reason: BrokenReason::Impaired,
                },
            ),
            (
                "db window keeps waiting",
                LaunchObserved {
                    db_failover: true,
                    ..observed(failing(), 900)
                },
                Wait {
                    reason: WaitReason::DbFailoverWindow,
                },
            ),
            (
                "open breaker keeps waiting",
                LaunchObserved {
                    breaker_open: true,
                    ..observed(failing(), 900)
                },
                Wait {
                    reason: WaitReason::BreakerOpen,
                },
            ),
            (
                "done is done",
                LaunchObserved {
                    waiting: false,
                    ..observed(failing(), 900)
                },
                NotWaiting,
            ),
            (
                "healthy but late still serves",
                observed(Some(ProbeOutcome::Healthy), 5000),
                Continue,
            ),
        ];
        for (name, o, expected) in cases {
            assert_eq!(plan_launch(&o, BUDGET), expected, "{name}");
        }
    }

    #[test]
    fn terminate_waits_for_draining_but_not_forever() {
        let max = Duration::from_secs(300);
        assert_eq!(
            plan_terminate(true, true, Duration::from_secs(10), max, None),
            TerminateDecision::WaitForDrain
        );
        assert_eq!(
            plan_terminate(true, true, Duration::from_secs(300), max, None),
            TerminateDecision::Continue
        );
        assert_eq!(
            plan_terminate(true, false, Duration::ZERO, max, None),
            TerminateDecision::Continue
        );
        assert_eq!(
            plan_terminate(false, true, Duration::ZERO, max, None),
            TerminateDecision::NotWaiting
        );
        let paused = Some(HandsOff::Paused);
        assert_eq!(
            plan_terminate(true, true, Duration::from_secs(10), max, paused),
            TerminateDecision::FailOpen {
                why: HandsOff::Paused
            }
        );
    }

    #[test]
    fn hands_off_continues_every_waiting_launch_at_once() {
        for why in [HandsOff::ObserveMode, HandsOff::Paused] {
            let broken = LaunchObserved {
                status: InstanceStatus {
                    running: true,
                    checks: StatusChecks::Impaired,
                },
                hands_off: Some(why),
                ..observed(None, 10_000)
            };
            assert_eq!(
                plan_launch(&broken, BUDGET),
                LaunchDecision::FailOpen { why }
            );
            let gone = LaunchObserved {
                waiting: false,
                ..broken
            };
            assert_eq!(plan_launch(&gone, BUDGET), LaunchDecision::NotWaiting);
        }
    }

    #[test]
    fn breaker_counts_only_the_window() {
        let window = Duration::from_secs(1800);
        let abandons = [Millis(0), Millis(1_000_000), Millis(1_500_000)];
        let breaker = Breaker {
            window,
            abandons: 3,
        };
        assert!(breaker_open(&abandons, Millis(1_700_000), breaker));
        assert!(!breaker_open(&abandons, Millis(1_800_001), breaker));
    }

    proptest! {
        /// Whatever is observed, an instance is never put in service unless EC2's checks pass
        /// and the application answered healthy, and never abandoned inside a DB window.
        #[test]
        fn continue_only_when_healthy_and_no_abandon_in_a_db_window(
            running in any::<bool>(),
            checks in prop_oneof![Just(StatusChecks::Ok), Just(StatusChecks::Initializing), Just(StatusChecks::Impaired)],
            probe in prop_oneof![Just(None), Just(Some(ProbeOutcome::Healthy)), Just(Some(ProbeOutcome::Pending)), Just(Some(ProbeOutcome::Unreachable)), Just(Some(ProbeOutcome::Failing("x".into())))],
            waited in 0u64..2000,
            db_failover in any::<bool>(),
            breaker in any::<bool>(),
        ) {
            let o = LaunchObserved { waiting: true, status: InstanceStatus { running, checks }, probe: probe.clone(), waited: Duration::from_secs(waited), db_failover, breaker_open: breaker, into_warm_pool: false, hands_off: None };
            let decision = plan_launch(&o, BUDGET);
            if decision == LaunchDecision::Continue {
                prop_assert!(running && checks == StatusChecks::Ok && probe == Some(ProbeOutcome::Healthy));
            }
            if db_failover || breaker {
                let abandoned = matches!(decision, LaunchDecision::Abandon { .. });
                prop_assert!(!abandoned, "abandoned inside a DB window or with the breaker open");
            }
        }
    }
}
