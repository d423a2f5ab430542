//! The site's DNS records and how halfhour takes them over and gives them back: a plain record
//! becomes the failover pair, and the pair becomes a plain alias to the load balancer again, each
//! in one Route53 change batch (Route53 applies a batch all or nothing, so the name resolves at
//! every moment). Pure: the adapter reads and writes the records, this decides the changes.

use serde::{Deserialize, Serialize};

/// The DNS gate: the HealthThreshold of a CALCULATED health check whose only child is the site's
/// check, on the PRIMARY record. Route53 documents 0 as always healthy and a threshold above the
/// number of children as always unhealthy
/// (<https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Gate {
    /// Threshold 1: DNS follows the site natively (the first fail-over needs no Lambda).
    Follow,
    /// Threshold 2: always unhealthy, DNS stays on the static site.
    HoldStatic,
    /// Threshold 0: always healthy, DNS stays on the load balancer.
    HoldPrimary,
}

impl Gate {
    pub fn threshold(self) -> i32 {
        match self {
            Gate::Follow => 1,
            Gate::HoldStatic => 2,
            Gate::HoldPrimary => 0,
        }
    }

    pub fn from_threshold(threshold: i32) -> Option<Gate> {
        match threshold {
            1 => Some(Gate::Follow),
            2 => Some(Gate::HoldStatic),
            0 => Some(Gate::HoldPrimary),
            _ => None,
        }
    }

    /// Which side Route53 answers with this gate and this site health.
    pub fn serves_primary(self, site_healthy: bool) -> bool {
        match self {
            Gate::Follow => site_healthy,
            Gate::HoldStatic => false,
            Gate::HoldPrimary => true,
        }
    }
}

/// When DNS went to the static side, as the failover loop records it in its document
/// (`state::doc::FAILOVER`, field `failovers`): the view other loops read of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SiteFailovers {
    #[serde(default)]
    pub failovers: Vec<crate::domain::Millis>,
}

impl SiteFailovers {
    /// DNS failed over to the static site at or after `t`.
    pub fn any_since(&self, t: crate::domain::Millis) -> bool {
        self.failovers.iter().any(|at| *at >= t)
    }
}

/// PRIMARY (the load balancer, behind the gate) or SECONDARY (the static site).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailoverRole {
    Primary,
    Secondary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasTarget {
    pub dns_name: String,
    pub hosted_zone_id: String,
    pub evaluate_target_health: bool,
}

/// One record set of the site's name, with every value a DELETE must repeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSet {
    pub name: String,
    /// `A`, `AAAA`, `CNAME`, ...
    pub kind: String,
    pub set_identifier: Option<String>,
    pub failover: Option<FailoverRole>,
    pub health_check_id: Option<String>,
    pub alias: Option<AliasTarget>,
    /// Plain (non-alias) records: their TTL and values.
    pub ttl: Option<i64>,
    pub values: Vec<String>,
}

impl RecordSet {
    /// A plain alias record (simple routing) to `target`.
    pub fn simple_alias(name: &str, kind: &str, target: AliasTarget) -> Self {
        RecordSet {
            name: name.to_owned(),
            kind: kind.to_owned(),
            set_identifier: None,
            failover: None,
            health_check_id: None,
            alias: Some(target),
            ttl: None,
            values: Vec::new(),
        }
    }

    fn same_name(&self, other: &str) -> bool {
        self.name
            .trim_end_matches('.')
            .eq_ignore_ascii_case(other.trim_end_matches('.'))
    }

    /// Route53 answers names lower-cased with a trailing dot; compare without either.
    fn same_as(&self, other: &RecordSet) -> bool {
        let plain = |r: &RecordSet| RecordSet {
            name: r.name.trim_end_matches('.').to_ascii_lowercase(),
            alias: r.alias.as_ref().map(|a| AliasTarget {
                dns_name: a.dns_name.trim_end_matches('.').to_ascii_lowercase(),
                ..a.clone()
            }),
            ..r.clone()
        };
        plain(self) == plain(other)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RecordChange {
    Create(RecordSet),
    Delete(RecordSet),
}

/// The records halfhour keeps for the site's name: PRIMARY → the load balancer behind the gate,
/// SECONDARY → the static site (an S3 website endpoint or a CloudFront distribution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverPair {
    pub name: String,
    pub gate_health_check_id: String,
    pub load_balancer: AliasTarget,
    pub static_site: AliasTarget,
    /// The static side answers IPv6 (CloudFront): a dual-stack site's own AAAA becomes a
    /// failover pair too, instead of being withdrawn while DNS serves the static side.
    pub static_ipv6: bool,
}

/// halfhour's set identifiers: a failover record named otherwise is someone else's.
pub const PRIMARY_ID: &str = "primary";
pub const SECONDARY_ID: &str = "secondary";

impl FailoverPair {
    pub fn records(&self) -> [RecordSet; 2] {
        let record = |role, id: &str, target: &AliasTarget, check: Option<&String>| RecordSet {
            name: self.name.clone(),
            kind: "A".into(),
            set_identifier: Some(id.to_owned()),
            failover: Some(role),
            health_check_id: check.cloned(),
            alias: Some(target.clone()),
            ttl: None,
            values: Vec::new(),
        };
        [
            record(
                FailoverRole::Primary,
                PRIMARY_ID,
                &self.load_balancer,
                Some(&self.gate_health_check_id),
            ),
            record(
                FailoverRole::Secondary,
                SECONDARY_ID,
                &self.static_site,
                None,
            ),
        ]
    }

    /// What the name answers once halfhour is gone: the load balancer, plainly.
    pub fn released(&self) -> RecordSet {
        RecordSet::simple_alias(&self.name, "A", self.load_balancer.clone())
    }

    /// The AAAA pair of a dual-stack site whose own AAAA is `own`: PRIMARY keeps its target
    /// (alias or addresses) behind the gate, SECONDARY aliases the static side.
    fn ipv6_records(&self, own: &RecordSet) -> [RecordSet; 2] {
        [
            RecordSet {
                set_identifier: Some(PRIMARY_ID.into()),
                failover: Some(FailoverRole::Primary),
                health_check_id: Some(self.gate_health_check_id.clone()),
                ..own.clone()
            },
            RecordSet {
                set_identifier: Some(SECONDARY_ID.into()),
                failover: Some(FailoverRole::Secondary),
                ..RecordSet::simple_alias(&self.name, "AAAA", self.static_site.clone())
            },
        ]
    }
}

fn ours(record: &RecordSet) -> bool {
    matches!(
        record.set_identifier.as_deref(),
        Some(PRIMARY_ID | SECONDARY_ID)
    ) && record.failover.is_some()
}

/// The AAAA records of `name` among `existing`.
fn aaaa_records<'a>(
    existing: &'a [RecordSet],
    name: &'a str,
) -> impl Iterator<Item = &'a RecordSet> {
    existing
        .iter()
        .filter(move |r| r.same_name(name) && r.kind == "AAAA")
}

/// A paired AAAA given back: the PRIMARY's target, plainly.
fn plain_again(primary: &RecordSet) -> RecordSet {
    RecordSet {
        set_identifier: None,
        failover: None,
        health_check_id: None,
        ..primary.clone()
    }
}

/// With an IPv6 static side: the site's own AAAA becomes the AAAA pair (or the pair's SECONDARY
/// is brought to the static side it should alias); a site without AAAA gets none.
fn adopt_ipv6(existing: &[RecordSet], wanted: &FailoverPair) -> Vec<RecordChange> {
    let current: Vec<&RecordSet> = aaaa_records(existing, &wanted.name).collect();
    let own = current.iter().find(|r| r.set_identifier.is_none());
    let primary = current
        .iter()
        .find(|r| ours(r) && r.failover == Some(FailoverRole::Primary));
    let Some(target) = own.or(primary) else {
        return Vec::new();
    };
    let pair = wanted.ipv6_records(&plain_again(target));
    let mut changes: Vec<RecordChange> = current
        .iter()
        .filter(|r| !pair.iter().any(|p| p.same_as(r)))
        .map(|r| RecordChange::Delete((*r).clone()))
        .collect();
    changes.extend(
        pair.into_iter()
            .filter(|p| !current.iter().any(|c| c.same_as(p)))
            .map(RecordChange::Create),
    );
    changes
}

/// A paired AAAA given back as the plain record it was; nothing when it is not paired.
fn release_ipv6(existing: &[RecordSet], name: &str) -> Vec<RecordChange> {
    let paired: Vec<&RecordSet> = aaaa_records(existing, name).filter(|r| ours(r)).collect();
    let Some(primary) = paired
        .iter()
        .find(|r| r.failover == Some(FailoverRole::Primary))
    else {
        return paired
            .into_iter()
            .map(|r| RecordChange::Delete(r.clone()))
            .collect();
    };
    let mut changes: Vec<RecordChange> = paired
        .iter()
        .map(|r| RecordChange::Delete((*r).clone()))
        .collect();
    changes.push(RecordChange::Create(plain_again(primary)));
    changes
}

/// Why halfhour will not take the name over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AdoptRefusal {
    /// A CNAME owns the name: no other record may exist beside it.
    Cname,
    /// Records of the name use a routing policy halfhour did not make (weighted, latency, or
    /// failover records with other identifiers): it does not guess which one is the site.
    ForeignRouting { set_identifiers: Vec<String> },
}

/// The A records of `name` among `existing`.
fn a_records<'a>(existing: &'a [RecordSet], name: &'a str) -> impl Iterator<Item = &'a RecordSet> {
    existing
        .iter()
        .filter(move |r| r.same_name(name) && r.kind == "A")
}

/// The batch that turns what the name has now into the failover pair: nothing when the pair is
/// there; the pair itself when the name has no A record; the plain record deleted and the pair
/// created, in one batch, when the site has its own record.
pub fn plan_adopt(
    existing: &[RecordSet],
    wanted: &FailoverPair,
) -> Result<Vec<RecordChange>, AdoptRefusal> {
    if existing
        .iter()
        .any(|r| r.same_name(&wanted.name) && r.kind == "CNAME")
    {
        return Err(AdoptRefusal::Cname);
    }
    let pair = wanted.records();
    let current: Vec<&RecordSet> = a_records(existing, &wanted.name).collect();
    let ipv6: Vec<&RecordSet> = if wanted.static_ipv6 {
        aaaa_records(existing, &wanted.name).collect()
    } else {
        Vec::new()
    };
    let foreign: Vec<String> = current
        .iter()
        .chain(&ipv6)
        .filter(|r| r.set_identifier.is_some() && !ours(r))
        .filter_map(|r| r.set_identifier.clone())
        .collect();
    if !foreign.is_empty() {
        return Err(AdoptRefusal::ForeignRouting {
            set_identifiers: foreign,
        });
    }
    let mut changes = Vec::new();
    for record in &current {
        if !pair.iter().any(|p| p.same_as(record)) {
            changes.push(RecordChange::Delete((*record).clone()));
        }
    }
    for record in pair {
        if !current.iter().any(|c| c.same_as(&record)) {
            changes.push(RecordChange::Create(record));
        }
    }
    if wanted.static_ipv6 {
        changes.extend(adopt_ipv6(existing, wanted));
    }
    Ok(changes)
}

/// The site's own AAAA record (plain routing), if it has one: halfhour withdraws it while DNS
/// serves the static page, which has no IPv6 address.
pub fn own_ipv6(existing: &[RecordSet], name: &str) -> Option<RecordSet> {
    existing
        .iter()
        .find(|r| r.same_name(name) && r.kind == "AAAA" && r.set_identifier.is_none())
        .cloned()
}

/// The change that withdraws the site's own AAAA (`withdrawn`) or puts `aaaa` back, given the
/// records as they are; None when they already say so (a retry changes nothing twice).
pub fn ipv6_change(
    existing: &[RecordSet],
    name: &str,
    aaaa: &RecordSet,
    withdrawn: bool,
) -> Option<RecordChange> {
    match (own_ipv6(existing, name), withdrawn) {
        (Some(present), true) => Some(RecordChange::Delete(present)),
        (None, false) => Some(RecordChange::Create(aaaa.clone())),
        _ => None,
    }
}

/// The batch that gives the name back: halfhour's failover records deleted and a plain alias to
/// the load balancer created in their place, and the site's AAAA put back if halfhour withdrew
/// it; nothing when there is nothing of halfhour's left.
pub fn plan_release(
    existing: &[RecordSet],
    wanted: &FailoverPair,
    withdrawn_ipv6: Option<&RecordSet>,
) -> Vec<RecordChange> {
    let mut changes = release_a(existing, wanted);
    changes.extend(release_ipv6(existing, &wanted.name));
    if let Some(aaaa) = withdrawn_ipv6
        && own_ipv6(existing, &wanted.name).is_none()
    {
        changes.push(RecordChange::Create(aaaa.clone()));
    }
    changes
}

fn release_a(existing: &[RecordSet], wanted: &FailoverPair) -> Vec<RecordChange> {
    let ours: Vec<RecordChange> = a_records(existing, &wanted.name)
        .filter(|r| ours(r))
        .cloned()
        .map(RecordChange::Delete)
        .collect();
    let plain_exists = a_records(existing, &wanted.name).any(|r| r.set_identifier.is_none());
    if ours.is_empty() || plain_exists {
        return ours;
    }
    let mut changes = ours;
    changes.push(RecordChange::Create(wanted.released()));
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_is_its_threshold_and_says_which_side_dns_serves() {
        for gate in [Gate::Follow, Gate::HoldStatic, Gate::HoldPrimary] {
            assert_eq!(Gate::from_threshold(gate.threshold()), Some(gate));
        }
        assert_eq!(
            Gate::from_threshold(3),
            None,
            "an operator's own threshold is no gate"
        );
        assert!(Gate::Follow.serves_primary(true) && !Gate::Follow.serves_primary(false));
        assert!(!Gate::HoldStatic.serves_primary(true));
        assert!(Gate::HoldPrimary.serves_primary(false));
    }

    fn pair() -> FailoverPair {
        FailoverPair {
            name: "www.example.com".into(),
            gate_health_check_id: "gate".into(),
            load_balancer: AliasTarget {
                dns_name: "web-123.us-east-1.elb.amazonaws.com".into(),
                hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
                evaluate_target_health: false,
            },
            static_ipv6: false,
            static_site: AliasTarget {
                dns_name: "s3-website-us-east-1.amazonaws.com".into(),
                hosted_zone_id: "Z3AQBSTGFYJSTF".into(),
                evaluate_target_health: false,
            },
        }
    }

    fn plain(values: &[&str]) -> RecordSet {
        RecordSet {
            name: "www.example.com.".into(),
            kind: "A".into(),
            set_identifier: None,
            failover: None,
            health_check_id: None,
            alias: None,
            ttl: Some(300),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    /// With an IPv6 static side a dual-stack site's own AAAA (here addresses) becomes the AAAA
    /// pair, its PRIMARY keeping the addresses behind the gate; adopting twice changes nothing,
    /// and the release puts the addresses back plainly.
    #[test]
    fn with_an_ipv6_static_side_the_sites_aaaa_is_paired_and_given_back() {
        let wanted = FailoverPair {
            static_ipv6: true,
            ..pair()
        };
        let aaaa = RecordSet {
            kind: "AAAA".into(),
            ..plain(&["2001:db8::10"])
        };
        let changes = plan_adopt(std::slice::from_ref(&aaaa), &wanted).unwrap();
        let [v4_primary, v4_secondary] = wanted.records();
        let [v6_primary, v6_secondary] = wanted.ipv6_records(&aaaa);
        assert_eq!(v6_primary.values, vec!["2001:db8::10".to_owned()]);
        assert_eq!(v6_primary.health_check_id.as_deref(), Some("gate"));
        assert_eq!(
            changes,
            vec![
                RecordChange::Create(v4_primary.clone()),
                RecordChange::Create(v4_secondary.clone()),
                RecordChange::Delete(aaaa.clone()),
                RecordChange::Create(v6_primary.clone()),
                RecordChange::Create(v6_secondary.clone()),
            ]
        );
        let adopted = [
            v4_primary,
            v4_secondary,
            v6_primary.clone(),
            v6_secondary.clone(),
        ];
        assert_eq!(plan_adopt(&adopted, &wanted), Ok(vec![]));
        let released = plan_release(&adopted, &wanted, None);
        assert!(released.contains(&RecordChange::Delete(v6_primary)));
        assert!(released.contains(&RecordChange::Delete(v6_secondary)));
        assert!(released.contains(&RecordChange::Create(aaaa)));
    }

    #[test]
    fn the_sites_own_record_is_replaced_by_the_pair_in_one_batch() {
        let own = plain(&["203.0.113.10"]);
        let changes = plan_adopt(std::slice::from_ref(&own), &pair()).unwrap();
        let [primary, secondary] = pair().records();
        assert_eq!(
            changes,
            vec![
                RecordChange::Delete(own),
                RecordChange::Create(primary),
                RecordChange::Create(secondary)
            ],
            "the DELETE first, in the same batch"
        );
    }

    #[test]
    fn adoption_is_idempotent_and_leaves_other_types_alone() {
        // As Route53 lists them: lower case, a trailing dot.
        let mut existing: Vec<RecordSet> = pair()
            .records()
            .into_iter()
            .map(|mut r| {
                r.name.push('.');
                if let Some(alias) = r.alias.as_mut() {
                    alias.dns_name = format!("{}.", alias.dns_name.to_ascii_lowercase());
                }
                r
            })
            .collect();
        let aaaa = RecordSet {
            kind: "AAAA".into(),
            ..RecordSet::simple_alias("www.example.com", "AAAA", pair().load_balancer)
        };
        existing.push(aaaa);
        assert_eq!(plan_adopt(&existing, &pair()), Ok(vec![]));
        assert_eq!(plan_adopt(&[], &pair()).unwrap().len(), 2);
    }

    #[test]
    fn foreign_routing_and_a_cname_are_refused() {
        let weighted = RecordSet {
            set_identifier: Some("blue".into()),
            ..plain(&["203.0.113.10"])
        };
        assert_eq!(
            plan_adopt(&[weighted], &pair()),
            Err(AdoptRefusal::ForeignRouting {
                set_identifiers: vec!["blue".into()]
            })
        );
        let cname = RecordSet {
            kind: "CNAME".into(),
            ..plain(&["site.example.net"])
        };
        assert_eq!(plan_adopt(&[cname], &pair()), Err(AdoptRefusal::Cname));
    }

    #[test]
    fn release_puts_a_plain_alias_to_the_load_balancer_in_the_pairs_place() {
        let existing = pair().records().to_vec();
        let changes = plan_release(&existing, &pair(), None);
        assert_eq!(changes.len(), 3);
        assert_eq!(
            changes[2],
            RecordChange::Create(RecordSet::simple_alias(
                "www.example.com",
                "A",
                pair().load_balancer
            ))
        );
        assert!(
            plan_release(&[], &pair(), None).is_empty(),
            "nothing to give back"
        );
        let released = [pair().released()];
        assert!(
            plan_release(&released, &pair(), None).is_empty(),
            "already given back"
        );
        let aaaa = RecordSet::simple_alias("www.example.com", "AAAA", pair().load_balancer);
        let with_ipv6 = plan_release(&existing, &pair(), Some(&aaaa));
        assert_eq!(with_ipv6.last(), Some(&RecordChange::Create(aaaa.clone())));
        let mut present = existing.clone();
        present.push(aaaa.clone());
        assert_eq!(plan_release(&present, &pair(), Some(&aaaa)).len(), 3);
        assert_eq!(own_ipv6(&present, "www.example.com"), Some(aaaa));
    }
}
