//! Route53 adapter: the site's health and the gate health check.

use async_trait::async_trait;
use aws_sdk_route53::Client;

use super::classify;
use crate::error::{Error, Result};
use crate::ports::Dns;

#[derive(Clone, Debug)]
pub struct Route53Dns {
    client: Client,
}

impl Route53Dns {
    pub fn new(sdk: &super::SdkConfig) -> Self {
        Route53Dns {
            client: Client::new(sdk),
        }
    }
}

/// Route53 counts a check healthy when more than 18% of its checkers report it healthy.
fn healthy_by_route53_rule(healthy: usize, total: usize) -> bool {
    total > 0 && healthy * 100 > total * 18
}

#[async_trait]
impl Dns for Route53Dns {
    async fn site_healthy(&self, health_check_id: &str) -> Result<bool> {
        let out = self
            .client
            .get_health_check_status()
            .health_check_id(health_check_id)
            .send()
            .await
            .map_err(|e| classify("GetHealthCheckStatus", e))?;
        let reports: Vec<&str> = out
            .health_check_observations()
            .iter()
            .filter_map(|o| o.status_report()?.status())
            .collect();
        let healthy = reports.iter().filter(|s| s.starts_with("Success")).count();
        Ok(healthy_by_route53_rule(healthy, reports.len()))
    }

    async fn gate_threshold(&self, gate_id: &str) -> Result<i32> {
        let out = self
            .client
            .get_health_check()
            .health_check_id(gate_id)
            .send()
            .await
            .map_err(|e| classify("GetHealthCheck", e))?;
        out.health_check()
            .and_then(|h| h.health_check_config())
            .and_then(|c| c.health_threshold())
            .ok_or_else(|| Error::Aws {
                operation: "GetHealthCheck",
                message: format!(
                    "health check {gate_id} is not a calculated gate (no HealthThreshold)"
                ),
            })
    }

    async fn set_gate_threshold(&self, gate_id: &str, threshold: i32) -> Result<()> {
        self.client
            .update_health_check()
            .health_check_id(gate_id)
            .health_threshold(threshold)
            .send()
            .await
            .map_err(|e| classify("UpdateHealthCheck", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_18_percent_is_healthy() {
        assert!(healthy_by_route53_rule(1, 3));
        assert!(!healthy_by_route53_rule(0, 3));
        assert!(!healthy_by_route53_rule(1, 6));
        assert!(healthy_by_route53_rule(2, 8));
        assert!(!healthy_by_route53_rule(0, 0));
    }
}
