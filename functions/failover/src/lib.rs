//! The failover loop: fail over to the static S3 site fast (natively, through Route53), fail
//! back slowly (after the site has been healthy continuously for the hold-down), never flap
//! (a flip budget), respect DB failovers, and let an operator pin the static site.
//!
//! Mechanism: the PRIMARY record's health check is a CALCULATED gate whose only child is the
//! site's health check; halfhour moves DNS by setting the gate's HealthThreshold (1 follows the
//! site, 2 holds static, 0 holds primary) and reads the site's health from the child.

pub mod config;
pub mod input;
pub mod page;
pub mod plan;

use std::sync::Arc;

use halfhour::Error;
use halfhour::aws::SdkConfig;
use halfhour::aws::custom_resource::ResponseUrl;
use halfhour::aws::dynamodb::DynamoStateStore;
use halfhour::aws::route53::Route53Dns;
use halfhour::aws::s3::S3StaticSite;
use halfhour::aws::sns::notifier;
use halfhour::aws::web::HttpsWeb;
use halfhour::domain::Loop;
use halfhour::domain::custom_resource::{CustomResourceRequest, RequestType};
use halfhour::domain::dns;
use halfhour::domain::{Flag, Notice};
use halfhour::envelope::Envelope;
pub use halfhour::invocation::Invocation;
use halfhour::invocation::{Decided, lease_to_act};
use halfhour::ports::{
    CustomResourceReplies, Dns, Notifier, StateStore, StaticSite, Web, notify_best_effort,
};
use halfhour::state::{read_json_or_default, remember_decision, write_json};
use halfhour::telemetry::DecisionRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use config::{FailoverConfig, StaticSiteMode};
pub use input::Input;
use plan::{BucketRefusal, BucketStep, FailoverState, Gate, Operator, Reason};

pub const FUNCTION: &str = Loop::Failover.function();
const STATE_DOC: &str = halfhour::state::doc::FAILOVER;

pub struct Deps {
    pub config: FailoverConfig,
    pub store: Arc<dyn StateStore>,
    pub dns: Arc<dyn Dns>,
    pub site: Arc<dyn StaticSite>,
    /// The static side as visitors see it.
    pub web: Arc<dyn Web>,
    /// Answers the deploy's custom resource (the page is published before the records exist).
    pub replies: Arc<dyn CustomResourceReplies>,
    pub notifier: Option<Arc<dyn Notifier>>,
}

impl Deps {
    pub fn from_sdk(config: FailoverConfig, sdk: &SdkConfig) -> Self {
        Deps {
            store: Arc::new(DynamoStateStore::new(sdk, config.common.table.clone())),
            dns: Arc::new(Route53Dns::new(sdk)),
            site: Arc::new(S3StaticSite::new(sdk)),
            web: Arc::new(HttpsWeb::default()),
            replies: Arc::new(ResponseUrl),
            notifier: notifier(sdk, config.common.notify_topic_arn.as_ref()),
            config,
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
    pub reason: Option<Value>,
    pub state: Value,
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
    lease_to_act(
        deps.store.as_ref(),
        &common.cluster,
        &invocation.owner(FUNCTION),
        invocation.now,
        common.lease,
        || decide(input, invocation, deps, true),
        |decided| apply(decided, deps),
    )
    .await
}

/// The stack's custom resources: the static page (`Custom::StaticPage`) and the site's records
/// (`Custom::FailoverRecords`). CloudFormation always gets an answer, or the stack would wait an
/// hour.
async fn on_deploy(
    request: CustomResourceRequest,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<FailoverReport, Error> {
    match request.resource_type.as_deref() {
        Some(RECORDS_RESOURCE) => on_records(request, invocation, deps).await,
        Some(BUCKET_RESOURCE) => on_bucket(request, invocation, deps).await,
        _ => on_static_page(request, invocation, deps).await,
    }
}

const BUCKET_RESOURCE: &str = "Custom::StaticSiteBucket";

/// The static site's bucket: created at the first deploy, used again by a redeploy after
/// `sam delete` (the bucket is retained, with its page) when its `halfhour:cluster` tag says it
/// is this cluster's; anyone else's bucket of that name is refused, untouched. A delete keeps it.
async fn on_bucket(
    request: CustomResourceRequest,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<FailoverReport, Error> {
    let config = &deps.config;
    let bucket = &config.static_bucket;
    let outcome = async {
        if request.request_type == RequestType::Delete {
            return Ok(());
        }
        let found = deps.site.find_bucket(bucket).await?;
        let step = plan::plan_bucket(&found, &config.common.cluster);
        DecisionRecord::new(Loop::Failover, &config.common.cluster, "static_site_bucket")
            .inputs(json!({"bucket": bucket, "found": found, "request": request.request_type}))
            .reason(format!("{step:?}"))
            .dry_run(config.common.dry_run)
            .emit();
        match step {
            Ok(BucketStep::Create) => deps.site.create_bucket(bucket).await?,
            Ok(BucketStep::Adopt) => {}
            Err(BucketRefusal::OwnedElsewhere) => {
                return Err(Error::bad_event(format!(
                    "the bucket {bucket} (the static site must be named like the record) belongs to another AWS account"
                )));
            }
            Err(BucketRefusal::NotOurs { cluster_tag }) => {
                return Err(Error::bad_event(format!(
                    "the bucket {bucket} exists but is not halfhour's for cluster {} (its halfhour:cluster tag is {}); halfhour uses a retained bucket only when it is this cluster's",
                    config.common.cluster,
                    cluster_tag.as_deref().unwrap_or("absent")
                )));
            }
        }
        // Even in observe mode: the bucket is halfhour's own, not the cluster's.
        let site = &config.static_site;
        deps.site
            .configure_bucket(
                bucket,
                &config.common.cluster,
                site.mode == StaticSiteMode::Website,
                &site.page_key,
            )
            .await
    }
    .await;
    answer_cloudformation(&request, outcome, bucket, invocation, deps).await
}

const RECORDS_RESOURCE: &str = "Custom::FailoverRecords";

/// Tell CloudFormation how the request went (it waits for the answer), then report.
async fn answer_cloudformation(
    request: &CustomResourceRequest,
    outcome: Result<(), Error>,
    physical_id: &str,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<FailoverReport, Error> {
    let answer = request.response(
        outcome.as_ref().map(|_| ()).map_err(ToString::to_string),
        physical_id,
    );
    deps.replies.reply(&request.response_url, &answer).await?;
    outcome?;
    apply(decide(Input::Status, invocation, deps, false).await?, deps).await
}

/// The site's own DNS record becomes the failover pair at deploy (one atomic batch, so the
/// name resolves at every moment), and the pair becomes a plain alias to the load balancer again
/// when the stack is deleted or turned to observe mode.
async fn on_records(
    request: CustomResourceRequest,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<FailoverReport, Error> {
    let config = &deps.config;
    let dry_run = config.common.dry_run;
    let adopt = matches!(
        request.request_type,
        RequestType::Create | RequestType::Update
    ) && !dry_run;
    // A changed RecordName: CloudFormation deletes the old resource after the new one exists.
    // This function may change only the new name, which the Delete must not give back.
    if let Some(old) = moved_from(&request, config) {
        DecisionRecord::new(Loop::Failover, &config.common.cluster, "release_elsewhere")
            .inputs(json!({"request": request.request_type, "record": old, "now_keeping": config.record_name}))
            .reason(format!(
                "{old} keeps its failover pair: give it back by hand; halfhour keeps {} now",
                config.record_name
            ))
            .dry_run(dry_run)
            .emit();
        return answer_cloudformation(&request, Ok(()), &old, invocation, deps).await;
    }
    let outcome = async {
        let pair = failover_pair(&request.resource_properties, config)?;
        keep_records(adopt, &pair, &request, deps).await
    }
    .await;
    answer_cloudformation(&request, outcome, &config.record_name, invocation, deps).await
}

/// The record a Delete names when it is not the one this function keeps (the stack moved to
/// another RecordName), else None.
fn moved_from(request: &CustomResourceRequest, config: &FailoverConfig) -> Option<String> {
    let named = request
        .physical_resource_id
        .as_deref()?
        .trim_end_matches('.');
    (request.request_type == RequestType::Delete
        && !named.eq_ignore_ascii_case(&config.record_name))
    .then(|| named.to_owned())
}

/// Adopt the name (the site's own A record becomes the pair, its AAAA is kept by the loop from
/// now on) or give it back (a plain alias to the load balancer, the AAAA put back if withdrawn).
async fn keep_records(
    adopt: bool,
    pair: &dns::FailoverPair,
    request: &CustomResourceRequest,
    deps: &Deps,
) -> Result<(), Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let existing = deps
        .dns
        .record_sets(&config.hosted_zone_id, &config.record_name)
        .await?;
    let (state, version) = load_state(deps).await?;
    let changes = if adopt {
        dns::plan_adopt(&existing, pair).map_err(|refusal| {
            Error::bad_event(format!(
                "{} cannot become halfhour's failover pair: {}",
                config.record_name,
                adopt_refusal(&refusal)
            ))
        })?
    } else {
        let withdrawn = state.ipv6.as_ref().filter(|_| state.ipv6_withdrawn);
        dns::plan_release(&existing, pair, withdrawn)
    };
    let verb = if adopt { "adopt" } else { "release" };
    DecisionRecord::new(Loop::Failover, cluster, verb)
        .inputs(
            json!({"request": request.request_type, "record": config.record_name,
                       "existing": existing, "changes": changes}),
        )
        .reason(format!("{} change(s) in one batch", changes.len()))
        .dry_run(config.common.dry_run)
        .emit();
    if !changes.is_empty() {
        let comment = format!("halfhour {verb}s {} ({cluster})", config.record_name);
        deps.dns
            .change_record_sets(&config.hosted_zone_id, &changes, &comment)
            .await?;
    }
    // Adopted, the loop keeps the site's AAAA from now on (unless it is a failover pair of its
    // own, with an IPv6 static side); given back, it keeps nothing.
    let mut next = state.clone();
    next.ipv6 = (adopt && !pair.static_ipv6)
        .then(|| {
            state
                .ipv6
                .clone()
                .or_else(|| dns::own_ipv6(&existing, &config.record_name))
        })
        .flatten();
    next.ipv6_withdrawn = adopt && state.ipv6_withdrawn;
    if next == state {
        return Ok(());
    }
    let state = next;
    if !write_json(deps.store.as_ref(), cluster, STATE_DOC, &state, version).await? {
        return Err(Error::Conflict(format!(
            "failover state of {cluster} changed underneath"
        )));
    }
    Ok(())
}

/// The pair the stack asks for: its targets from the resource's properties, the name and the
/// gate from this function's own configuration.
fn failover_pair(properties: &Value, config: &FailoverConfig) -> Result<dns::FailoverPair, Error> {
    let text = |key: &str| {
        properties
            .get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| Error::bad_event(format!("{RECORDS_RESOURCE} needs the property {key}")))
    };
    let alias = |dns_name, hosted_zone_id| dns::AliasTarget {
        dns_name,
        hosted_zone_id,
        evaluate_target_health: false,
    };
    if let Some(named) = properties.get("RecordName").and_then(Value::as_str)
        && !named
            .trim_end_matches('.')
            .eq_ignore_ascii_case(&config.record_name)
    {
        return Err(Error::bad_event(format!(
            "{RECORDS_RESOURCE} names {named}, not this cluster's record {}",
            config.record_name
        )));
    }
    Ok(dns::FailoverPair {
        name: config.record_name.clone(),
        gate_health_check_id: config.gate_health_check_id.clone(),
        load_balancer: alias(
            text("LoadBalancerDnsName")?,
            text("LoadBalancerHostedZoneId")?,
        ),
        static_site: alias(text("StaticSiteDomain")?, text("StaticSiteHostedZoneId")?),
        static_ipv6: properties.get("StaticSiteIpv6").and_then(Value::as_str) == Some("true"),
    })
}

fn adopt_refusal(refusal: &dns::AdoptRefusal) -> String {
    match refusal {
        dns::AdoptRefusal::Cname => {
            "it is a CNAME; make it an A (alias) record to the load balancer first".into()
        }
        dns::AdoptRefusal::ForeignRouting { set_identifiers } => format!(
            "it has records with another routing policy ({}); leave it one plain A record to adopt",
            set_identifiers.join(", ")
        ),
    }
}

/// `Custom::StaticPage`: publish the page at deploy time, so it is in the bucket before the
/// failover records exist (they depend on it) and before Route53 can ever fail over to it.
async fn on_static_page(
    request: CustomResourceRequest,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<FailoverReport, Error> {
    let config = &deps.config;
    let dry_run = config.common.dry_run;
    let outcome = match request.request_type {
        // The bucket is retained, and so is its page.
        RequestType::Delete => Ok(()),
        RequestType::Create | RequestType::Update if dry_run => Ok(()),
        RequestType::Create | RequestType::Update => publish_static_page(deps).await,
    };
    DecisionRecord::new(Loop::Failover, &config.common.cluster, "deploy_static_page")
        .inputs(json!({"request": request.request_type, "logical_id": request.logical_resource_id}))
        .reason(match &outcome {
            Ok(()) => "published".to_owned(),
            Err(err) => format!("failed: {err}"),
        })
        .dry_run(dry_run)
        .emit();
    answer_cloudformation(&request, outcome, &config.static_bucket, invocation, deps).await
}

async fn load_state(deps: &Deps) -> Result<(FailoverState, Option<u64>), Error> {
    read_json_or_default(deps.store.as_ref(), &deps.config.common.cluster, STATE_DOC).await
}

/// What the failover loop saw and chose, before it changes anything.
struct FailoverDecided {
    input: Input,
    /// Whether changes are applied (not a status, not observe mode).
    act: bool,
    now: halfhour::domain::Millis,
    state: FailoverState,
    version: Option<u64>,
    report: FailoverReport,
    /// A look-and-decide input's plan; none for status and publish.
    plan: Option<Planned>,
}

/// A plan and the drift it found: the gate's threshold and the static page as they are.
struct Planned {
    decision: plan::FailoverDecision,
    record: DecisionRecord,
    site_healthy: bool,
    /// The gate check's threshold now (read only when acting).
    threshold: Option<i32>,
    /// The static page is missing or not this site's (read only when acting on a look).
    page_missing: bool,
}

impl Planned {
    fn threshold_drifted(&self) -> bool {
        self.threshold
            .is_some_and(|now| now != self.decision.next.mode.gate().threshold())
    }
}

impl Decided for FailoverDecided {
    fn changes_something(&self) -> bool {
        if !self.act {
            return false;
        }
        let Some(planned) = &self.plan else {
            return self.input == Input::Publish;
        };
        let decision = &planned.decision;
        decision.needs_static_page
            || planned.page_missing
            || planned.threshold_drifted()
            || decision.next != self.state
            || decision.notify
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
        reason: reason.map(|r| json!(r)),
        state: json!(state),
        dry_run: config.common.dry_run,
    };
    let operator = match input {
        Input::Status | Input::Publish => {
            return Ok(FailoverDecided {
                input,
                act,
                now,
                report: report(&state, None),
                state,
                version,
                plan: None,
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
    let threshold = if act {
        Some(
            deps.dns
                .gate_threshold(&config.gate_health_check_id)
                .await?,
        )
    } else {
        None
    };
    // The page must exist before Route53's own first fail-over: put back if it is missing.
    let page_missing = act
        && input == Input::Evaluate
        && !paused
        && !decision.needs_static_page
        && !static_page_present(deps).await?;
    Ok(FailoverDecided {
        input,
        act,
        now,
        report: report(&decision.next, Some(decision.reason)),
        state,
        version,
        plan: Some(Planned {
            decision,
            record,
            site_healthy,
            threshold,
            page_missing,
        }),
    })
}

async fn apply(decided: FailoverDecided, deps: &Deps) -> Result<FailoverReport, Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let FailoverDecided {
        input,
        act,
        now,
        state,
        version,
        report,
        plan,
    } = decided;
    let Some(planned) = plan else {
        if act && input == Input::Publish {
            publish_static_page(deps).await?;
        }
        return Ok(report);
    };
    planned.record.emit();
    if !act {
        return Ok(report);
    }
    let decision = &planned.decision;
    let gate = decision.next.mode.gate();
    if decision.needs_static_page || planned.page_missing {
        publish_static_page(deps).await?;
    }
    if planned.threshold_drifted() {
        deps.dns
            .set_gate_threshold(&config.gate_health_check_id, gate.threshold())
            .await?;
    }
    if decision.next.ipv6_withdrawn != state.ipv6_withdrawn
        && let Some(aaaa) = &decision.next.ipv6
    {
        sync_ipv6(aaaa, decision.next.ipv6_withdrawn, deps).await?;
    }
    if decision.next != state
        && !write_json(
            deps.store.as_ref(),
            cluster,
            STATE_DOC,
            &decision.next,
            version,
        )
        .await?
    {
        return Err(Error::Conflict(format!(
            "failover state of {cluster} changed underneath"
        )));
    }
    metrics::counter!("DnsFlips")
        .increment((decision.next.flips.len().saturating_sub(state.flips.len())) as u64);
    // 1 while DNS serves the static page: the stack's alarm fires when it lasts too long.
    let on_static = !gate.serves_primary(planned.site_healthy);
    metrics::gauge!("ServingStatic").set(if on_static { 1.0 } else { 0.0 });
    if decision.notify {
        remember_decision(deps.store.as_ref(), &planned.record, now).await;
        notify(decision.reason, gate, now, deps).await;
    }
    Ok(report)
}

/// Withdraw the site's AAAA (DNS serves the static page, which has no IPv6 address) or put it
/// back; looked up first, so a retry after a lost answer changes nothing twice.
async fn sync_ipv6(aaaa: &dns::RecordSet, withdrawn: bool, deps: &Deps) -> Result<(), Error> {
    let config = &deps.config;
    let existing = deps
        .dns
        .record_sets(&config.hosted_zone_id, &config.record_name)
        .await?;
    let change = match (dns::own_ipv6(&existing, &config.record_name), withdrawn) {
        (Some(present), true) => dns::RecordChange::Delete(present),
        (None, false) => dns::RecordChange::Create(aaaa.clone()),
        _ => return Ok(()),
    };
    let comment = format!(
        "halfhour {} the IPv6 record of {}",
        if withdrawn { "withdraws" } else { "restores" },
        config.record_name
    );
    deps.dns
        .change_record_sets(&config.hosted_zone_id, &[change], &comment)
        .await
}

/// Publish halfhour's page where the operator put none (an existing page is never
/// overwritten), then read it back as a visitor would: traffic goes to the static side only once
/// visitors get the page there.
async fn publish_static_page(deps: &Deps) -> Result<(), Error> {
    let config = &deps.config;
    let site = &config.static_site;
    deps.site
        .put_page_if_absent(
            &config.static_bucket,
            &site.page_key,
            &page::page(&config.site_name),
            page::CACHE_CONTROL,
        )
        .await?;
    let answer = deps.web.get(&site.url).await?;
    if serves_the_page(&answer, site.mode) {
        return Ok(());
    }
    Err(Error::Retryable {
        operation: "GET the static site",
        message: format!(
            "visitors of the static site {} get HTTP {} instead of the page ({} expected): {}",
            site.url,
            answer.status,
            site.mode.page_status(),
            match site.mode {
                StaticSiteMode::Website => "the bucket must be a public S3 website",
                StaticSiteMode::CloudFront =>
                    "the distribution must read the bucket (origin access control) and answer errors with the page",
            }
        ),
    })
}

/// Whether visitors of the static site get the page: its status (200 from a website, 503 from
/// CloudFront's error responses) and a body.
fn serves_the_page(answer: &halfhour::ports::WebAnswer, mode: StaticSiteMode) -> bool {
    answer.status == mode.page_status() && !answer.body.trim().is_empty()
}

async fn static_page_present(deps: &Deps) -> Result<bool, Error> {
    let site = &deps.config.static_site;
    Ok(serves_the_page(&deps.web.get(&site.url).await?, site.mode))
}

async fn notify(reason: Reason, gate: Gate, now: halfhour::domain::Millis, deps: &Deps) {
    let config = &deps.config;
    let action = action_name(reason);
    let mut notice = Notice::new(
        Loop::Failover,
        &config.common.cluster,
        action,
        format!("{} {}", config.record_name, action.replace('_', " ")),
        format!(
            "{}: {reason:?}. DNS gate: {gate:?} (HealthThreshold {}). Static site: http://{}.",
            config.record_name,
            gate.threshold(),
            config.static_bucket
        ),
    )
    .resource(&config.record_name)
    .resource(&config.gate_health_check_id);
    for step in next_steps(reason) {
        notice = notice.next_step(*step);
    }
    notify_best_effort(deps.notifier.as_ref(), deps.store.as_ref(), notice, now).await;
}

/// What the operator does after each notified fail-over decision.
fn next_steps(reason: Reason) -> &'static [&'static str] {
    match reason {
        Reason::FailedOver => &[
            "Visitors get the static page. Look at the load balancer's targets and the site's health check.",
            "DNS fails back by itself once the site is healthy for the hold-down; {\"action\": \"pin-static\"} keeps it on the static page.",
        ],
        Reason::FlipBudgetSpent => &[
            "The site flapped: DNS stays where it is until the flip budget refills. Find why the health check flaps before it does.",
        ],
        Reason::Pinned | Reason::PinnedPrimary => {
            &["{\"action\": \"unpin\"} gives DNS back to the site's health."]
        }
        _ => &[],
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FailoverConfig {
        let vars = [
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            ("HALFHOUR_HOSTED_ZONE_ID", "Z1"),
            ("HALFHOUR_RECORD_NAME", "www.example.com"),
            ("HALFHOUR_SITE_HEALTH_CHECK_ID", "site"),
            ("HALFHOUR_GATE_HEALTH_CHECK_ID", "gate"),
            (
                "HALFHOUR_STATIC_SITE_URL",
                "http://www.example.com.s3-website-us-east-1.amazonaws.com/",
            ),
        ];
        FailoverConfig::from_lookup(halfhour::testing::lookup(&vars)).unwrap()
    }

    /// A command a notification tells the operator to send is one this function takes.
    #[test]
    fn every_command_a_notification_suggests_is_accepted() {
        let reasons = [
            Reason::Healthy,
            Reason::FailedOver,
            Reason::DbWindowGrace,
            Reason::DbGraceHolding,
            Reason::GraceOver,
            Reason::HoldDown { remaining_s: 60 },
            Reason::SiteStillDown,
            Reason::FailedBack,
            Reason::FlipBudgetSpent,
            Reason::Pinned,
            Reason::PinnedPrimary,
            Reason::Unpinned,
            Reason::Paused,
        ];
        let mut suggested = 0;
        for step in reasons.into_iter().flat_map(next_steps) {
            for (at, _) in step.match_indices("{\"action\"") {
                let end = at + step[at..].find('}').unwrap() + 1;
                let command: Value = serde_json::from_str(&step[at..end]).unwrap();
                Input::parse(&command, &config()).unwrap_or_else(|e| panic!("{step}: {e}"));
                suggested += 1;
            }
        }
        assert!(suggested > 0, "no notification suggests a command");
    }

    /// Every shipped event fixture parses to the input it stands for.
    #[test]
    fn event_fixtures_parse() {
        let config = config();
        let cases = [
            ("site-health-alarm.json", Input::Evaluate),
            ("reconcile.json", Input::Evaluate),
            ("pin-static.json", Input::PinStatic),
            ("pin-primary.json", Input::PinPrimary),
            ("unpin.json", Input::Unpin),
            ("status.json", Input::Status),
            ("publish.json", Input::Publish),
        ];
        for (file, expected) in cases {
            let path = format!(
                "{}/../../events/failover/{file}",
                env!("CARGO_MANIFEST_DIR")
            );
            let payload: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert_eq!(Input::parse(&payload, &config).unwrap(), expected, "{file}");
        }
    }
}
