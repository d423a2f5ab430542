//! The failover loop: fail over to the static S3 site fast (natively, through Route53), fail
//! back slowly (after the site has been healthy continuously for the hold-down), never flap
//! (a flip budget), respect DB failovers, and let an operator pin the static site.
//!
//! Mechanism: the PRIMARY record's health check is a CALCULATED gate whose only child is the
//! site's health check; halfhour moves DNS by setting the gate's HealthThreshold (1 follows the
//! site, 2 holds static, 0 holds primary) and reads the site's health from the child.

mod apply;
pub mod config;
mod deploy;
#[cfg(test)]
mod handler_tests;
pub mod input;
pub mod page;
pub mod plan;

use std::sync::Arc;

use halfhour::Error;
use halfhour::aws::SdkConfig;
use halfhour::aws::custom_resource::ResponseUrl;
use halfhour::aws::route53::Route53Dns;
use halfhour::aws::s3::S3StaticSite;
use halfhour::aws::web::HttpsWeb;
use halfhour::core::Core;
use halfhour::domain::{Flag, Loop};
use halfhour::envelope::Envelope;
use halfhour::invocation::Decided;
pub use halfhour::invocation::Invocation;
use halfhour::ports::{CustomResourceReplies, Dns, StaticSite, Web};
use halfhour::state::StateDoc;
use halfhour::telemetry::DecisionRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use apply::apply;
pub use config::{FailoverConfig, StaticSiteMode};
use deploy::on_deploy;
pub use input::Input;
use plan::{FailoverState, Operator, Reason};

const STATE: StateDoc<FailoverState> = StateDoc::new(halfhour::state::doc::FAILOVER);

pub struct Deps {
    pub core: Core<FailoverConfig>,
    pub dns: Arc<dyn Dns>,
    pub site: Arc<dyn StaticSite>,
    /// The static side as visitors see it.
    pub web: Arc<dyn Web>,
    /// Answers the deploy's custom resource (the page is published before the records exist).
    pub replies: Arc<dyn CustomResourceReplies>,
}

halfhour::loop_deps!(Deps, FailoverConfig, Loop::Failover);

impl Deps {
    pub fn from_sdk(config: FailoverConfig, sdk: &SdkConfig) -> Self {
        Deps {
            dns: Arc::new(Route53Dns::new(sdk)),
            site: Arc::new(S3StaticSite::new(sdk)),
            web: Arc::new(HttpsWeb::default()),
            replies: Arc::new(ResponseUrl),
            core: Core::from_sdk(config, sdk),
        }
    }
}

/// What an invocation saw and did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailoverReport {
    pub site_healthy: bool,
    pub db_window: bool,
    pub gate: String,
    pub serving: String,
    pub reason: Option<Reason>,
    pub state: FailoverState,
    pub dry_run: bool,
}

pub async fn handle(
    payload: &Value,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<FailoverReport, Error> {
    let input = match Envelope::recognise(payload, &deps.config.common.cluster)? {
        Envelope::CustomResource(request) => return on_deploy(request, invocation, deps).await,
        envelope => Input::of(envelope)?,
    };
    let common = &deps.config.common;
    if input == Input::Status || common.dry_run {
        return apply(decide(input, invocation, deps, false).await?, deps).await;
    }
    deps.lease_to_act(
        invocation,
        || decide(input, invocation, deps, true),
        |decided| apply(decided, deps),
    )
    .await
}

/// Whether visitors of the static site get the page now.
async fn static_page_present(deps: &Deps) -> Result<bool, Error> {
    let site = &deps.config.static_site;
    Ok(page::serves_the_page(
        &deps.web.get(&site.url).await?,
        site.mode,
    ))
}

async fn load_state(deps: &Deps) -> Result<(FailoverState, Option<u64>), Error> {
    let loaded = STATE
        .load(deps.store.as_ref(), &deps.config.common.cluster)
        .await?;
    Ok((loaded.value, loaded.version))
}

/// What the failover loop saw and chose, before it changes anything.
struct FailoverDecided {
    /// What carrying the decision out takes; empty unless acting (not a status, not observe mode).
    steps: Vec<plan::Step>,
    /// A look-and-decide input's record; none for status and publish.
    record: Option<DecisionRecord>,
    now: halfhour::domain::Millis,
    next: FailoverState,
    version: Option<u64>,
    report: FailoverReport,
}

impl Decided for FailoverDecided {
    fn changes_something(&self) -> bool {
        plan::changes_something(&self.steps)
    }
}

async fn decide(
    input: Input,
    invocation: &Invocation,
    deps: &Deps,
    act: bool,
) -> Result<FailoverDecided, Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let now = invocation.now;
    let (state, version) = load_state(deps).await?;
    let site_healthy = deps.dns.site_healthy(&config.site_health_check_id).await?;
    let flags = deps.store.read_flags(cluster).await?;
    let db_window = flags.is_raised(Flag::DbFailover, now);
    let paused = flags.is_raised(Flag::Paused, now);
    let report = |state: &FailoverState, reason: Option<Reason>| FailoverReport {
        site_healthy,
        db_window,
        gate: format!("{:?}", state.mode.gate()),
        serving: if state.mode.gate().serves_primary(site_healthy) {
            "PRIMARY"
        } else {
            "SECONDARY"
        }
        .into(),
        reason,
        state: state.clone(),
        dry_run: config.common.dry_run,
    };
    let operator = match input {
        Input::Status | Input::Publish => {
            let publish = act && input == Input::Publish;
            return Ok(FailoverDecided {
                steps: publish
                    .then_some(plan::Step::PublishPage)
                    .into_iter()
                    .collect(),
                record: None,
                now,
                report: report(&state, None),
                next: state,
                version,
            });
        }
        Input::PinStatic => Some(Operator::PinStatic),
        Input::PinPrimary => Some(Operator::PinPrimary),
        Input::Unpin => Some(Operator::Unpin),
        Input::Evaluate => None,
    };
    let decision = plan::plan_failover(
        &state,
        site_healthy,
        db_window,
        paused,
        operator,
        &config.policy,
        now,
    );
    let record = DecisionRecord::new(Loop::Failover, cluster, action_name(decision.reason))
        .inputs(
            json!({"site_healthy": site_healthy, "db_window": db_window, "operator": operator,
                       "mode": state.mode, "flips_in_window": decision.next.flips.len()}),
        )
        .guards(flags.raised(now).iter().map(|f| f.as_str()))
        .reason(format!("{:?}", decision.reason))
        .dry_run(!act);
    // The drift a look repairs: only read when the look may act on it.
    let steps = if act {
        let threshold = deps
            .dns
            .gate_threshold(&config.gate_health_check_id)
            .await?;
        // The page must exist before Route53's own first fail-over: put back if it is missing.
        let page_missing = input == Input::Evaluate
            && !paused
            && !decision.needs_static_page
            && !static_page_present(deps).await?;
        let found = plan::Found {
            threshold: Some(threshold),
            page_missing,
        };
        plan::steps(&decision, &state, found, site_healthy)
    } else {
        Vec::new()
    };
    Ok(FailoverDecided {
        steps,
        record: Some(record),
        now,
        report: report(&decision.next, Some(decision.reason)),
        next: decision.next,
        version,
    })
}

fn action_name(reason: Reason) -> &'static str {
    match reason {
        Reason::Healthy | Reason::SiteStillDown | Reason::DbGraceHolding => "hold",
        Reason::HoldDown { .. } => "hold_down",
        Reason::FailedOver => "fail_over",
        Reason::FailedBack => "fail_back",
        Reason::DbWindowGrace => "db_grace",
        Reason::GraceOver => "follow_site",
        Reason::FlipBudgetSpent => "flip_budget_spent",
        Reason::Pinned => "pinned",
        Reason::PinnedPrimary => "pinned_primary",
        Reason::Unpinned => "unpinned",
        Reason::Paused => "paused",
    }
}
