//! One integration-test binary: the real AWS SDK for Rust over HTTP against the emulator.
//! Modules are named `<area>_<subject>`.

mod emulator_images;
mod emulator_lifecycle;
mod emulator_refresh;
mod emulator_route53;
mod emulator_sns;
mod event_samples;
mod failover_dns;
mod failover_records;
mod failover_static_site;
mod fixture_cluster;
mod garbage_parsers;
mod gold_image_bake;
mod gold_image_canary;
mod iam_other_cluster;
mod lifecycle_hooks;
mod operator_switches;
mod reconciler_tick;
mod reliability_adversarial_hour;
mod reliability_crashes;
mod reliability_duplicates;
mod reliability_faults;
mod scaling_alarms;
mod state_flags;
mod state_idempotency;
mod state_lease;
mod state_upgrade;
mod template_functions;
