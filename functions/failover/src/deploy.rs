//! The stack's custom resources, answered at deploy: the static site's bucket, its page, and
//! the site's DNS record becoming the failover pair (and given back at delete).

use halfhour::Error;
use halfhour::domain::Loop;
use halfhour::domain::custom_resource::{CustomResourceRequest, RequestType};
use halfhour::domain::dns;
use halfhour::invocation::Invocation;
use halfhour::telemetry::DecisionRecord;
use serde_json::{Value, json};

use crate::apply::{apply, publish_static_page};
use crate::plan::{self, BucketRefusal, BucketStep};
use crate::{
    Deps, FailoverConfig, FailoverReport, Input, STATE, StaticSiteMode, decide, load_state,
};

/// The stack's custom resources: the static page (`Custom::StaticPage`) and the site's records
/// (`Custom::FailoverRecords`). CloudFormation always gets an answer, or the stack would wait an
/// hour.
pub(crate) async fn on_deploy(
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
    STATE
        .save(deps.store.as_ref(), cluster, &state, version)
        .await
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
