//! Carrying out the failover loop's decision: the static page, the gate's threshold, the site's
//! IPv6 record, the state write, the metrics, the decision record and the notice.

use halfhour::Error;
use halfhour::domain::dns;
use halfhour::domain::{Loop, Notice};
use halfhour::ports::notify_best_effort;
use halfhour::state::{remember_decision, write_json};

use crate::plan::{Gate, Reason};
use crate::{
    Deps, FailoverDecided, FailoverReport, Input, STATE_DOC, StaticSiteMode, action_name, page,
};

pub(crate) async fn apply(decided: FailoverDecided, deps: &Deps) -> Result<FailoverReport, Error> {
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

pub(crate) async fn static_page_present(deps: &Deps) -> Result<bool, Error> {
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
