//! The failover loop's configuration.

use halfhour::config::{CommonConfig, ConfigError, Vars};

use crate::plan::Policy;

pub const HOSTED_ZONE_ID: &str = "HALFHOUR_HOSTED_ZONE_ID";
pub const RECORD_NAME: &str = "HALFHOUR_RECORD_NAME";
pub const SITE_HEALTH_CHECK_ID: &str = "HALFHOUR_SITE_HEALTH_CHECK_ID";
pub const GATE_HEALTH_CHECK_ID: &str = "HALFHOUR_GATE_HEALTH_CHECK_ID";
pub const STATIC_BUCKET: &str = "HALFHOUR_STATIC_BUCKET";
pub const SITE_NAME: &str = "HALFHOUR_SITE_NAME";
pub const HOLD_DOWN_SECONDS: &str = "HALFHOUR_HOLD_DOWN_SECONDS";
pub const HOLD_DOWN_MAX_SECONDS: &str = "HALFHOUR_HOLD_DOWN_MAX_SECONDS";
pub const FLIP_WINDOW_SECONDS: &str = "HALFHOUR_FLIP_WINDOW_SECONDS";
pub const FLIP_BUDGET: &str = "HALFHOUR_FLIP_BUDGET";
pub const DB_GRACE_SECONDS: &str = "HALFHOUR_DB_GRACE_SECONDS";
pub const STATIC_SITE_URL: &str = "HALFHOUR_STATIC_SITE_URL";
pub const STATIC_SITE_MODE: &str = "HALFHOUR_STATIC_SITE_MODE";
pub const MAINTENANCE_PAGE_KEY: &str = "HALFHOUR_MAINTENANCE_PAGE_KEY";

/// How visitors reach the static page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticSiteMode {
    /// The bucket's S3 website endpoint: HTTP only, the page answered 200.
    Website,
    /// A CloudFront distribution in front of the private bucket: HTTPS, the page answered 503
    /// for every path (its custom error responses) with `Retry-After`.
    CloudFront,
}

impl StaticSiteMode {
    /// The status visitors get with the page.
    pub fn page_status(self) -> u16 {
        match self {
            StaticSiteMode::Website => 200,
            StaticSiteMode::CloudFront => 503,
        }
    }
}

/// The static side: where visitors get the page, how, and which object it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticSite {
    /// What a visitor's browser asks for (the website endpoint or the distribution), so the
    /// page is read back through the path visitors take.
    pub url: String,
    pub mode: StaticSiteMode,
    /// The page's object: the operator's, if they put one there (never overwritten), else
    /// halfhour's generated page.
    pub page_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverConfig {
    pub common: CommonConfig,
    pub hosted_zone_id: String,
    pub record_name: String,
    /// The real site check (the gate's only child): halfhour reads health here, never the gate.
    pub site_health_check_id: String,
    /// The CALCULATED check on the PRIMARY record; its HealthThreshold is how DNS is held.
    pub gate_health_check_id: String,
    /// The S3 website bucket; S3 website hosting requires it to be named like the record.
    pub static_bucket: String,
    pub site_name: String,
    pub static_site: StaticSite,
    pub policy: Policy,
}

impl FailoverConfig {
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup);
        let record_name = vars.required(RECORD_NAME)?.trim_end_matches('.').to_owned();
        let static_bucket = vars
            .optional(STATIC_BUCKET)
            .unwrap_or_else(|| record_name.clone());
        if static_bucket != record_name {
            return Err(ConfigError::Invalid {
                var: STATIC_BUCKET,
                value: static_bucket,
                reason: format!(
                    "an S3 website bucket behind a Route53 alias must be named like the record ({record_name})"
                ),
            });
        }
        let flip_budget: usize = vars.parse_or(FLIP_BUDGET, 4)?;
        if !(2..=20).contains(&flip_budget) {
            return Err(ConfigError::Invalid {
                var: FLIP_BUDGET,
                value: flip_budget.to_string(),
                reason: "must be between 2 and 20 flips per window".into(),
            });
        }
        let hold_down = vars.seconds_or(HOLD_DOWN_SECONDS, 300, 10, 3600)?;
        let hold_down_max = vars.seconds_or(HOLD_DOWN_MAX_SECONDS, 3600, 10, 86_400)?;
        if hold_down_max < hold_down {
            return Err(ConfigError::Invalid {
                var: HOLD_DOWN_MAX_SECONDS,
                value: hold_down_max.as_secs().to_string(),
                reason: format!(
                    "must be at least {HOLD_DOWN_SECONDS} ({}s)",
                    hold_down.as_secs()
                ),
            });
        }
        let mode = match vars.optional(STATIC_SITE_MODE).as_deref() {
            None | Some("website") => StaticSiteMode::Website,
            Some("cloudfront") => StaticSiteMode::CloudFront,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: STATIC_SITE_MODE,
                    value: other.to_owned(),
                    reason: "must be website or cloudfront".into(),
                });
            }
        };
        let url = vars.required(STATIC_SITE_URL)?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                var: STATIC_SITE_URL,
                value: url,
                reason: "must be the http(s) URL visitors reach the static page at".into(),
            });
        }
        let page_key = vars
            .optional(MAINTENANCE_PAGE_KEY)
            .unwrap_or_else(|| "maintenance.html".to_owned());
        // An S3 website's index document is a key without a slash.
        let valid_key = !page_key.is_empty()
            && page_key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !valid_key {
            return Err(ConfigError::Invalid {
                var: MAINTENANCE_PAGE_KEY,
                value: page_key,
                reason: "must be an object key of letters, digits, '.', '_' or '-' (no '/')".into(),
            });
        }
        Ok(FailoverConfig {
            common: CommonConfig::from_lookup(lookup)?,
            static_site: StaticSite {
                url,
                mode,
                page_key,
            },
            hosted_zone_id: vars.required(HOSTED_ZONE_ID)?,
            site_health_check_id: vars.required(SITE_HEALTH_CHECK_ID)?,
            gate_health_check_id: vars.required(GATE_HEALTH_CHECK_ID)?,
            site_name: vars
                .optional(SITE_NAME)
                .unwrap_or_else(|| record_name.clone()),
            static_bucket,
            record_name,
            policy: Policy {
                hold_down,
                hold_down_max,
                flip_window: vars.seconds_or(FLIP_WINDOW_SECONDS, 3600, 60, 86_400)?,
                flip_budget,
                db_grace: vars.seconds_or(DB_GRACE_SECONDS, 180, 0, 1800)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config(extra: &[(&'static str, &'static str)]) -> Result<FailoverConfig, ConfigError> {
        let base = [
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            (HOSTED_ZONE_ID, "Z1"),
            (RECORD_NAME, "www.example.com."),
            (SITE_HEALTH_CHECK_ID, "site"),
            (GATE_HEALTH_CHECK_ID, "gate"),
            (
                STATIC_SITE_URL,
                "http://www.example.com.s3-website-us-east-1.amazonaws.com/",
            ),
        ];
        FailoverConfig::from_lookup(halfhour::testing::lookup_over(&base, extra))
    }

    #[test]
    fn defaults_do_not_flap() {
        let c = config(&[]).unwrap();
        assert_eq!(c.static_bucket, "www.example.com");
        assert_eq!(c.policy.hold_down, Duration::from_secs(300));
        assert_eq!(c.policy.flip_budget, 4);
        assert_eq!(c.static_site.mode, StaticSiteMode::Website);
        assert_eq!(c.static_site.page_key, "maintenance.html");
    }

    #[test]
    fn the_static_side_is_named_as_visitors_reach_it() {
        let c = config(&[
            (STATIC_SITE_MODE, "cloudfront"),
            (STATIC_SITE_URL, "https://d111111abcdef8.cloudfront.net/"),
            (MAINTENANCE_PAGE_KEY, "down.html"),
        ])
        .unwrap();
        assert_eq!(c.static_site.mode.page_status(), 503);
        for (var, value) in [
            (STATIC_SITE_MODE, "amplify"),
            (STATIC_SITE_URL, "d111111abcdef8.cloudfront.net"),
            (MAINTENANCE_PAGE_KEY, "pages/down.html"),
        ] {
            assert!(
                matches!(config(&[(var, value)]).unwrap_err(), ConfigError::Invalid { var: v, .. } if v == var),
                "{var}={value}"
            );
        }
    }

    #[test]
    fn a_bucket_not_named_like_the_record_is_refused() {
        assert!(matches!(
            config(&[(STATIC_BUCKET, "other")]).unwrap_err(),
            ConfigError::Invalid {
                var: STATIC_BUCKET,
                ..
            }
        ));
        assert!(matches!(
            config(&[(FLIP_BUDGET, "1")]).unwrap_err(),
            ConfigError::Invalid {
                var: FLIP_BUDGET,
                ..
            }
        ));
        assert_eq!(
            config(&[(GATE_HEALTH_CHECK_ID, "")]).unwrap_err(),
            ConfigError::Missing {
                var: GATE_HEALTH_CHECK_ID
            }
        );
    }
}
