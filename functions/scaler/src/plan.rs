//! The pure scaling decision: no I/O, no clock of its own.

use serde::Serialize;

use halfhour::domain::{AlarmState, AlarmTransition, Bounds, Flag, Millis, Notice};

use crate::config::{Cooldowns, ScalerConfig};
use crate::notices;

/// What the scaler saw before deciding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observed {
    pub desired: u32,
    /// The group's own MinSize..MaxSize; the plan never leaves it either.
    pub group_bounds: Bounds,
    /// Instances still waiting on their launch hook.
    pub pending_wait: usize,
    pub raised_flags: Vec<Flag>,
    pub last_scale_out: Option<Millis>,
    pub last_scale_in: Option<Millis>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Direction {
    Out,
    In,
}

/// Why the scaler left capacity alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum HoldReason {
    NotInAlarm,
    AtMax,
    AtMin,
    ScaleOutCooldown,
    ScaleInCooldown,
    Baking,
    Refreshing,
    DbFailover,
    InstancesPending,
    /// An operator paused halfhour: no change either way.
    Paused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum ScaleDecision {
    Set {
        from: u32,
        to: u32,
        direction: Direction,
    },
    Hold {
        reason: HoldReason,
    },
}

/// The flags that forbid scale-in, with the reason each gives.
const SCALE_IN_GUARDS: [(Flag, HoldReason); 3] = [
    (Flag::Baking, HoldReason::Baking),
    (Flag::Refreshing, HoldReason::Refreshing),
    (Flag::DbFailover, HoldReason::DbFailover),
];

/// Decide what one alarm transition does to the group's desired capacity.
pub fn plan_scale(
    observed: &Observed,
    step: i32,
    alarm: AlarmState,
    bounds: Bounds,
    cooldowns: &Cooldowns,
    now: Millis,
) -> ScaleDecision {
    let hold = |reason| ScaleDecision::Hold { reason };
    if alarm != AlarmState::Alarm {
        return hold(HoldReason::NotInAlarm);
    }
    if observed.raised_flags.contains(&Flag::Paused) {
        return hold(HoldReason::Paused);
    }
    let bounds = bounds.within(observed.group_bounds);
    let from = observed.desired;
    let target = bounds.clamp(i64::from(from) + i64::from(step));
    if step > 0 {
        if from >= bounds.max {
            return hold(HoldReason::AtMax);
        }
        if observed
            .last_scale_out
            .is_some_and(|t| now < t.plus(cooldowns.scale_out))
        {
            return hold(HoldReason::ScaleOutCooldown);
        }
        return ScaleDecision::Set {
            from,
            to: target,
            direction: Direction::Out,
        };
    }
    if let Some((_, reason)) = SCALE_IN_GUARDS
        .iter()
        .find(|(flag, _)| observed.raised_flags.contains(flag))
    {
        return hold(*reason);
    }
    if observed.pending_wait > 0 {
        return hold(HoldReason::InstancesPending);
    }
    if from <= bounds.min {
        return hold(HoldReason::AtMin);
    }
    let last_change = observed.last_scale_out.max(observed.last_scale_in);
    if last_change.is_some_and(|t| now < t.plus(cooldowns.scale_in)) {
        return hold(HoldReason::ScaleInCooldown);
    }
    ScaleDecision::Set {
        from,
        to: target,
        direction: Direction::In,
    }
}

/// A scale-in the guards keep refusing: since when, for which alarm transition, and whether the
/// operator was told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RefusedScaleIn {
    pub alarm_key: String,
    pub since: Millis,
    #[serde(default)]
    pub reported: bool,
}

/// Whether a hold refuses a scale-in the alarm asks for (a flag or instances still launching),
/// rather than finding nothing to do (at the minimum, in cooldown, not in alarm).
fn refuses_scale_in(reason: HoldReason) -> bool {
    SCALE_IN_GUARDS.iter().any(|(_, r)| *r == reason) || reason == HoldReason::InstancesPending
}

/// Follow one scale-in alarm's refusals: a refusal starts (or continues) the episode, a
/// scale-in or the minimum ends it. `report` once the episode has lasted `long`, once.
pub fn track_refusal(
    previous: Option<&RefusedScaleIn>,
    decision: &ScaleDecision,
    alarm_key: &str,
    now: Millis,
    long: std::time::Duration,
) -> (Option<RefusedScaleIn>, bool) {
    match decision {
        ScaleDecision::Hold { reason } if refuses_scale_in(*reason) => match previous {
            Some(episode) if episode.alarm_key == alarm_key => {
                let due = !episode.reported && now.since(episode.since) >= long;
                let next = RefusedScaleIn {
                    reported: episode.reported || due,
                    ..episode.clone()
                };
                (Some(next), due)
            }
            _ => (
                Some(RefusedScaleIn {
                    alarm_key: alarm_key.to_owned(),
                    since: now,
                    reported: false,
                }),
                false,
            ),
        },
        ScaleDecision::Set {
            direction: Direction::In,
            ..
        }
        | ScaleDecision::Hold {
            reason: HoldReason::AtMin,
        } => (None, false),
        _ => (previous.cloned(), false),
    }
}

/// Which bound a change lands the group on, if any: the operator hears of capacity at its
/// maximum (load beyond it is not absorbed) and back at its minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BoundReached {
    Max(u32),
    Min(u32),
}

pub fn bound_reached(decision: &ScaleDecision, bounds: Bounds) -> Option<BoundReached> {
    match *decision {
        ScaleDecision::Set {
            to,
            direction: Direction::Out,
            ..
        } if to >= bounds.max => Some(BoundReached::Max(to)),
        ScaleDecision::Set {
            to,
            direction: Direction::In,
            ..
        } if to <= bounds.min => Some(BoundReached::Min(to)),
        _ => None,
    }
}

/// Persisted between invocations, so cold starts respect the cooldowns and a re-driven event
/// re-applies its own change instead of stepping again.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct ScalerState {
    pub last_scale_out: Option<Millis>,
    pub last_scale_in: Option<Millis>,
    pub last_event: Option<String>,
    pub last_target: Option<u32>,
    /// The scale-in alarm the guards keep refusing, when one is.
    #[serde(default)]
    pub refused_in: Option<RefusedScaleIn>,
}

/// One effect of a scaling decision; `apply` carries the steps out in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Write the scaler's state (conditionally: a change underneath is a conflict). A change's
    /// intent is written before the change: a crash after it re-applies the same target.
    WriteState(ScalerState),
    SetDesired(u32),
    /// Keep the decision record in the cluster's history.
    Remember,
    Notify(Notice),
}

/// What a decision is carried out from.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen<'a> {
    pub decision: ScaleDecision,
    /// Whether the change is applied (an alarm in ALARM outside observe mode).
    pub act: bool,
    /// The decision re-applies a recorded change (a re-driven event) instead of stepping again.
    pub reapply: bool,
    pub observed_desired: u32,
    pub state: &'a ScalerState,
    pub event_key: &'a str,
    /// What the scaler last set, when the group's desired capacity is no longer that.
    pub changed_elsewhere: Option<u32>,
    /// The bounds the decision kept to (halfhour's within the group's own).
    pub bounds: Bounds,
    pub alarm: &'a AlarmTransition,
    pub now: Millis,
}

/// The steps that carry a decision out: a change (its intent, the capacity, the record, the
/// notices that go with it), or, on a hold, the refused scale-in followed.
pub fn steps(decided: &Chosen, config: &ScalerConfig) -> Vec<Step> {
    let Chosen {
        decision,
        state,
        alarm,
        now,
        ..
    } = *decided;
    if !decided.act {
        return Vec::new();
    }
    let ScaleDecision::Set { to, direction, .. } = decision else {
        return refused_steps(decided, config);
    };
    let mut steps = Vec::new();
    if !decided.reapply {
        let mut next = state.clone();
        match direction {
            Direction::Out => next.last_scale_out = Some(now),
            Direction::In => {
                next.last_scale_in = Some(now);
                next.refused_in = None; // the refusal is over
            }
        }
        next.last_event = Some(decided.event_key.to_owned());
        next.last_target = Some(to);
        steps.push(Step::WriteState(next));
    }
    if to != decided.observed_desired {
        steps.push(Step::SetDesired(to));
    }
    steps.push(Step::Remember);
    let elsewhere = decided.changed_elsewhere.map(|last| {
        notices::changed_elsewhere(last, decided.observed_desired, to, alarm, &decision, config)
    });
    let at_bound = bound_reached(&decision, decided.bounds)
        .map(|bound| notices::at_bound(bound, &alarm.alarm_name, &decision, config));
    steps.extend(elsewhere.into_iter().chain(at_bound).map(Step::Notify));
    steps
}

/// On a hold: follow a scale-in the guards keep refusing (a scale-in's own write ends it), and
/// tell the operator once it has lasted.
fn refused_steps(decided: &Chosen, config: &ScalerConfig) -> Vec<Step> {
    let state = decided.state;
    let (episode, report) = track_refusal(
        state.refused_in.as_ref(),
        &decided.decision,
        &decided.alarm.event_key(),
        decided.now,
        config.refused_scale_in_notice,
    );
    if episode == state.refused_in {
        return Vec::new();
    }
    let notice =
        match (report, &episode, decided.decision) {
            (true, Some(episode), ScaleDecision::Hold { reason }) => Some(
                notices::refused_for_long(episode, reason, decided.alarm, config),
            ),
            _ => None,
        };
    let next = ScalerState {
        refused_in: episode,
        ..state.clone()
    };
    [Step::WriteState(next)]
        .into_iter()
        .chain(notice.map(Step::Notify))
        .collect()
}

/// A re-driven event whose change was recorded (maybe not applied): the same change again,
/// never a further step.
pub fn plan_reapply(state: &ScalerState, event_key: &str, desired: u32) -> Option<ScaleDecision> {
    let (key, target) = (state.last_event.as_deref()?, state.last_target?);
    (key == event_key).then_some(ScaleDecision::Set {
        from: desired,
        to: target,
        direction: if target >= desired {
            Direction::Out
        } else {
            Direction::In
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    const BOUNDS: Bounds = Bounds { min: 2, max: 10 };
    const COOLDOWNS: Cooldowns = Cooldowns {
        scale_out: Duration::from_secs(120),
        scale_in: Duration::from_secs(600),
    };

    fn carried_out(
        decision: ScaleDecision,
        act: bool,
        reapply: bool,
        state: &ScalerState,
    ) -> Vec<Step> {
        let config = ScalerConfig::from_lookup(halfhour::testing::lookup(&[
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            ("HALFHOUR_ASG_NAME", "prod-web"),
            ("HALFHOUR_SCALING_ALARMS", "prod-cpu-high=+2"),
        ]))
        .expect("valid");
        let alarm = AlarmTransition {
            alarm_name: "prod-cpu-high".into(),
            state: AlarmState::Alarm,
            previous: None,
            changed_at: Millis(7),
        };
        let chosen = Chosen {
            decision,
            act,
            reapply,
            observed_desired: 4,
            state,
            event_key: "prod-cpu-high@7",
            changed_elsewhere: None,
            bounds: BOUNDS,
            alarm: &alarm,
            now: Millis(1_000),
        };
        steps(&chosen, &config)
    }

    #[test]
    fn a_change_writes_its_intent_before_the_capacity_and_a_replay_only_the_capacity() {
        let out = ScaleDecision::Set {
            from: 4,
            to: 6,
            direction: Direction::Out,
        };
        let state = ScalerState::default();
        let steps = carried_out(out, true, false, &state);
        let Some(Step::WriteState(intent)) = steps.first() else {
            panic!("{steps:?}")
        };
        assert_eq!(
            (
                intent.last_target,
                intent.last_event.as_deref(),
                intent.last_scale_out
            ),
            (Some(6), Some("prod-cpu-high@7"), Some(Millis(1_000)))
        );
        assert_eq!(steps[1..], [Step::SetDesired(6), Step::Remember]);
        assert_eq!(
            carried_out(out, true, true, &state),
            vec![Step::SetDesired(6), Step::Remember]
        );
        assert_eq!(
            carried_out(out, false, false, &state),
            vec![],
            "observe mode"
        );
    }

    #[test]
    fn reaching_the_maximum_is_told() {
        let out = ScaleDecision::Set {
            from: 8,
            to: 10,
            direction: Direction::Out,
        };
        let steps = carried_out(out, true, false, &ScalerState::default());
        assert!(
            matches!(steps.last(), Some(Step::Notify(n)) if n.kind == "at-max"),
            "{steps:?}"
        );
    }

    #[test]
    fn a_re_driven_event_replays_its_recorded_target() {
        let state = ScalerState {
            last_event: Some("a@1".into()),
            last_target: Some(3),
            ..ScalerState::default()
        };
        assert_eq!(
            plan_reapply(&state, "a@1", 4),
            Some(ScaleDecision::Set {
                from: 4,
                to: 3,
                direction: Direction::In
            })
        );
        assert_eq!(plan_reapply(&state, "a@2", 4), None);
        assert_eq!(plan_reapply(&ScalerState::default(), "a@1", 4), None);
    }

    fn observed(desired: u32) -> Observed {
        Observed {
            desired,
            group_bounds: BOUNDS,
            pending_wait: 0,
            raised_flags: vec![],
            last_scale_out: None,
            last_scale_in: None,
        }
    }

    fn plan(o: &Observed, step: i32, now: i64) -> ScaleDecision {
        plan_scale(o, step, AlarmState::Alarm, BOUNDS, &COOLDOWNS, Millis(now))
    }

    #[test]
    fn table() {
        use HoldReason::*;
        let set = |from, to, direction| ScaleDecision::Set {
            from,
            to,
            direction,
        };
        let hold = |reason| ScaleDecision::Hold { reason };
        let cases: Vec<(&str, Observed, i32, ScaleDecision)> = vec![
            ("out by the step", observed(2), 2, set(2, 4, Direction::Out)),
            (
                "out clamps at max",
                observed(9),
                2,
                set(9, 10, Direction::Out),
            ),
            ("at max holds", observed(10), 2, hold(AtMax)),
            ("in by the step", observed(5), -1, set(5, 4, Direction::In)),
            ("at min holds", observed(2), -1, hold(AtMin)),
            (
                "group max is tighter",
                Observed {
                    group_bounds: Bounds { min: 2, max: 6 },
                    ..observed(6)
                },
                2,
                hold(AtMax),
            ),
            (
                "baking forbids scale-in",
                Observed {
                    raised_flags: vec![Flag::Baking],
                    ..observed(5)
                },
                -1,
                hold(Baking),
            ),
            (
                "baking allows scale-out",
                Observed {
                    raised_flags: vec![Flag::Baking],
                    ..observed(5)
                },
                1,
                set(5, 6, Direction::Out),
            ),
            (
                "a pause holds scale-out",
                Observed {
                    raised_flags: vec![Flag::Paused],
                    ..observed(5)
                },
                2,
                hold(Paused),
            ),
            (
                "a pause holds scale-in",
                Observed {
                    raised_flags: vec![Flag::Paused],
                    ..observed(5)
                },
                -1,
                hold(Paused),
            ),
            (
                "refresh forbids scale-in",
                Observed {
                    raised_flags: vec![Flag::Refreshing],
                    ..observed(5)
                },
                -1,
                hold(Refreshing),
            ),
            (
                "db failover forbids scale-in",
                Observed {
                    raised_flags: vec![Flag::DbFailover],
                    ..observed(5)
                },
                -1,
                hold(DbFailover),
            ),
            (
                "pending instances forbid scale-in",
                Observed {
                    pending_wait: 1,
                    ..observed(5)
                },
                -1,
                hold(InstancesPending),
            ),
            (
                "scale-out cooldown",
                Observed {
                    last_scale_out: Some(Millis(0)),
                    ..observed(4)
                },
                2,
                hold(ScaleOutCooldown),
            ),
            (
                "scale-in waits after a scale-out",
                Observed {
                    last_scale_out: Some(Millis(0)),
                    ..observed(4)
                },
                -1,
                hold(ScaleInCooldown),
            ),
            (
                "desired above bounds comes back in",
                observed(12),
                -1,
                set(12, 10, Direction::In),
            ),
        ];
        for (name, o, step, expected) in cases {
            assert_eq!(plan(&o, step, 60_000), expected, "{name}");
        }
        assert_eq!(
            plan_scale(
                &observed(4),
                2,
                AlarmState::Ok,
                BOUNDS,
                &COOLDOWNS,
                Millis(0)
            ),
            hold(NotInAlarm)
        );
    }

    #[test]
    fn cooldowns_expire() {
        let o = Observed {
            last_scale_out: Some(Millis(0)),
            last_scale_in: Some(Millis(0)),
            ..observed(4)
        };
        assert_eq!(
            plan(&o, 2, 120_000),
            ScaleDecision::Set {
                from: 4,
                to: 6,
                direction: Direction::Out
            }
        );
        assert_eq!(
            plan(&o, -1, 600_000),
            ScaleDecision::Set {
                from: 4,
                to: 3,
                direction: Direction::In
            }
        );
    }

    fn any_flags() -> impl Strategy<Value = Vec<Flag>> {
        proptest::sample::subsequence(Flag::ALL.to_vec(), 0..=Flag::ALL.len())
    }

    proptest! {
        /// Random alarm sequences, clocks and flags: capacity stays in bounds, no scale-in
        /// under a guard, and the cooldowns hold between the changes the plan makes.
        #[test]
        fn sequences_stay_in_bounds_and_respect_guards_and_cooldowns(
            start in 2u32..=10,
            events in proptest::collection::vec(
                (prop_oneof![Just(2i32), Just(1), Just(-1), Just(-2)],
                 prop_oneof![Just(AlarmState::Alarm), Just(AlarmState::Ok), Just(AlarmState::InsufficientData)],
                 0i64..900_000, any_flags(), 0usize..3),
                1..60),
        ) {
            let mut o = observed(start);
            let mut now = 0i64;
            for (step, alarm, gap, flags, pending) in events {
                now += gap;
                o.raised_flags = flags.clone();
                o.pending_wait = pending;
                let decision = plan_scale(&o, step, alarm, BOUNDS, &COOLDOWNS, Millis(now));
                if let ScaleDecision::Set { from, to, direction } = decision {
                    prop_assert!(!flags.contains(&Flag::Paused), "a change while paused");
                    prop_assert_eq!(from, o.desired);
                    prop_assert!(BOUNDS.contains(to), "{} outside bounds", to);
                    prop_assert_eq!(alarm, AlarmState::Alarm);
                    match direction {
                        Direction::Out => {
                            prop_assert!(to > from);
                            if let Some(t) = o.last_scale_out {
                                prop_assert!(now - t.0 >= 120_000, "scale-out inside its cooldown");
                            }
                            o.last_scale_out = Some(Millis(now));
                        }
                        Direction::In => {
                            prop_assert!(to < from);
                            prop_assert!(flags.is_empty(), "scale-in while {:?}", flags);
                            prop_assert_eq!(pending, 0);
                            let last = o.last_scale_out.max(o.last_scale_in);
                            if let Some(t) = last {
                                prop_assert!(now - t.0 >= 600_000, "scale-in inside its cooldown");
                            }
                            o.last_scale_in = Some(Millis(now));
                        }
                    }
                    o.desired = to;
                }
                prop_assert!(BOUNDS.contains(o.desired));
            }
        }
    }

    #[test]
    fn a_refused_scale_in_is_reported_once_when_it_has_lasted() {
        let long = Duration::from_secs(1800);
        let refused = ScaleDecision::Hold {
            reason: HoldReason::Refreshing,
        };
        let (episode, report) = track_refusal(None, &refused, "low@1", Millis(0), long);
        assert!(!report);
        let episode = episode.expect("an episode starts");
        assert_eq!(episode.since, Millis(0));
        let (still, report) =
            track_refusal(Some(&episode), &refused, "low@1", Millis(60_000), long);
        assert_eq!((still.as_ref(), report), (Some(&episode), false));
        let (told, report) =
            track_refusal(Some(&episode), &refused, "low@1", Millis(1_800_000), long);
        assert!(report);
        let told = told.expect("still refused");
        assert!(told.reported);
        let (_, again) = track_refusal(Some(&told), &refused, "low@1", Millis(3_600_000), long);
        assert!(!again, "once per episode");
        // Another transition of the alarm is another episode.
        let (other, report) =
            track_refusal(Some(&told), &refused, "low@2", Millis(3_600_000), long);
        assert_eq!(other.map(|e| e.since), Some(Millis(3_600_000)));
        assert!(!report);
        // A cooldown neither starts nor ends one; a scale-in or the minimum ends it.
        let cooldown = ScaleDecision::Hold {
            reason: HoldReason::ScaleInCooldown,
        };
        assert_eq!(
            track_refusal(Some(&episode), &cooldown, "low@1", Millis(1), long),
            (Some(episode.clone()), false)
        );
        assert_eq!(
            track_refusal(None, &cooldown, "low@1", Millis(1), long),
            (None, false)
        );
        let scaled_in = ScaleDecision::Set {
            from: 5,
            to: 4,
            direction: Direction::In,
        };
        assert_eq!(
            track_refusal(Some(&episode), &scaled_in, "low@1", Millis(1), long),
            (None, false)
        );
    }

    #[test]
    fn changes_landing_on_a_bound_are_named() {
        let set = |from, to, direction| ScaleDecision::Set {
            from,
            to,
            direction,
        };
        assert_eq!(
            bound_reached(&set(8, 10, Direction::Out), BOUNDS),
            Some(BoundReached::Max(10))
        );
        assert_eq!(bound_reached(&set(4, 6, Direction::Out), BOUNDS), None);
        assert_eq!(
            bound_reached(&set(3, 2, Direction::In), BOUNDS),
            Some(BoundReached::Min(2))
        );
        assert_eq!(bound_reached(&set(5, 4, Direction::In), BOUNDS), None);
        assert_eq!(
            bound_reached(
                &ScaleDecision::Hold {
                    reason: HoldReason::AtMax
                },
                BOUNDS
            ),
            None
        );
    }
}
