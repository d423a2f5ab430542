//! The reconciler's decisions, pure: what a tick asks of the loops, and what the kill switch
//! does given whether the cluster is paused already.

use halfhour::domain::{ClusterName, FlagHold, Loop, Millis, Notice, PAUSE_OWNER, format_utc};

/// One effect of a reconciler decision; `apply` carries the steps out in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Raise the pause flag: every loop hands the cluster back to AWS's own behaviour.
    RaisePause(FlagHold),
    LowerPause,
    /// Keep the decision record in the cluster's history.
    Remember,
    Notify(Notice),
    /// Ask every loop to reconcile now, so each acts on the switch at once, not at the next tick.
    Tick,
}

/// The kill switch an operator turned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Switch {
    Pause { reason: String },
    Resume,
}

/// What turning the switch comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchPlan {
    pub action: &'static str,
    pub reason: String,
    pub paused: bool,
    /// The flag already said so: nothing changes.
    pub unchanged: bool,
    pub steps: Vec<Step>,
}

/// Pause or resume: the flag, the record, the notice, then a tick. The flag is halfhour's own
/// state, so observe mode turns it too (a cluster paused during a trial stays paused after).
pub fn plan_switch(
    switch: &Switch,
    paused_now: bool,
    now: Millis,
    cluster: &ClusterName,
) -> SwitchPlan {
    match switch {
        Switch::Pause { reason } => {
            let hold = FlagHold {
                by: format!("{PAUSE_OWNER}: {reason}"),
                since: now,
                until: Millis(i64::MAX),
            };
            let notice = Notice::new(
                Loop::Reconciler,
                cluster,
                "paused",
                "paused",
                format!(
                    "Every loop of {cluster} stopped changing the cluster at {} ({reason}). Launches and terminations go on without waiting on halfhour, DNS follows Route53's own health check, capacity is left alone, a running bake waits.",
                    format_utc(now)
                ),
            )
            .decision("pause")
            .next_step("Resume with {\"action\": \"resume\"} on the reconciler.");
            SwitchPlan {
                action: "pause",
                reason: reason.clone(),
                paused: true,
                unchanged: paused_now,
                steps: unless(
                    paused_now,
                    vec![
                        Step::RaisePause(hold),
                        Step::Remember,
                        Step::Notify(notice),
                        Step::Tick,
                    ],
                ),
            }
        }
        Switch::Resume => {
            let notice = Notice::new(
                Loop::Reconciler,
                cluster,
                "resumed",
                "resumed",
                format!(
                    "Every loop of {cluster} acts again from {}.",
                    format_utc(now)
                ),
            )
            .decision("resume");
            SwitchPlan {
                action: "resume",
                reason: "resumed by an operator".into(),
                paused: false,
                unchanged: !paused_now,
                steps: unless(
                    !paused_now,
                    vec![
                        Step::LowerPause,
                        Step::Remember,
                        Step::Notify(notice),
                        Step::Tick,
                    ],
                ),
            }
        }
    }
}

fn unless(unchanged: bool, steps: Vec<Step>) -> Vec<Step> {
    if unchanged { Vec::new() } else { steps }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> ClusterName {
        ClusterName::new("prod").expect("valid")
    }

    #[test]
    fn pausing_a_paused_cluster_changes_nothing() {
        let pause = Switch::Pause {
            reason: "incident 42".into(),
        };
        let plan = plan_switch(&pause, true, Millis(0), &cluster());
        assert!(plan.unchanged && plan.paused);
        assert_eq!(plan.steps, vec![]);
        let resume = plan_switch(&Switch::Resume, false, Millis(0), &cluster());
        assert!(resume.unchanged && !resume.paused);
        assert_eq!(resume.steps, vec![]);
    }

    #[test]
    fn a_pause_holds_until_resumed_names_its_reason_and_ticks() {
        let pause = Switch::Pause {
            reason: "incident 42".into(),
        };
        let plan = plan_switch(&pause, false, Millis(5), &cluster());
        let [
            Step::RaisePause(hold),
            Step::Remember,
            Step::Notify(notice),
            Step::Tick,
        ] = plan.steps.as_slice()
        else {
            panic!("{:?}", plan.steps)
        };
        assert_eq!(hold.until, Millis(i64::MAX));
        assert_eq!(hold.since, Millis(5));
        assert!(hold.by.ends_with(": incident 42"), "{}", hold.by);
        assert!(notice.description.contains("incident 42"));
        let resume = plan_switch(&Switch::Resume, true, Millis(6), &cluster());
        assert_eq!(resume.steps.first(), Some(&Step::LowerPause));
        assert_eq!(resume.steps.last(), Some(&Step::Tick));
    }
}
