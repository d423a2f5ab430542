//! Carrying out the failover loop's decision: the static page, the gate's threshold, the site's
//! IPv6 record, the state write, the metrics, the decision record and the notice.

use halfhour::Error;
use halfhour::domain::dns;
use halfhour::domain::{Loop, Notice};
use halfhour::ports::notify_best_effort;
use halfhour::state::remember_decision;

use crate::plan::{Gate, Reason, Step};
use crate::{Deps, FailoverDecided, FailoverReport, STATE, StaticSiteMode, action_name, page};

pub(crate) async fn apply(decided: FailoverDecided, deps: &Deps) -> Result<FailoverReport, Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let FailoverDecided {
        steps,
        record,
        now,
        next,
        version,
        report,
    } = decided;
    if let Some(record) = &record {
        record.emit();
    }
    for step in steps {
        match step {
            Step::PublishPage => publish_static_page(deps).await?,
            Step::SetGate(gate) => {
                deps.dns
                    .set_gate(&config.gate_health_check_id, gate)
                    .await?
            }
            Step::SyncIpv6 { aaaa, withdrawn } => sync_ipv6(&aaaa, withdrawn, deps).await?,
            Step::WriteState => {
                STATE
                    .save(deps.store.as_ref(), cluster, &next, version)
                    .await?
            }
            Step::Metrics {
                flips_added,
                on_static,
            } => {
                metrics::counter!("DnsFlips").increment(flips_added);
                // 1 while DNS serves the static page: the stack's alarm fires when it lasts too long.
                metrics::gauge!("ServingStatic").set(f64::from(u8::from(on_static)));
            }
            Step::Remember => {
                if let Some(record) = &record {
                    remember_decision(deps.store.as_ref(), record, now).await;
                }
            }
            Step::Notify { reason, gate } => notify(reason, gate, now, deps).await,
        }
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
    let Some(change) = dns::ipv6_change(&existing, &config.record_name, aaaa, withdrawn) else {
        return Ok(());
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
pub(crate) async fn publish_static_page(deps: &Deps) -> Result<(), Error> {
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
    if page::serves_the_page(&answer, site.mode) {
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
pub(crate) fn next_steps(reason: Reason) -> &'static [&'static str] {
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
