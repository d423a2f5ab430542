//! halfhour's shared brain: the pure domain rules, the capability ports, the AWS adapters and
//! the DynamoDB state store that every loop's Lambda stands on.
//!
//! - [`domain`]: value types and decision rules; pure (no async, no SDK types, no clock).
//! - [`ports`]: narrow capability traits the handlers talk through.
//! - [`aws`]: the only place `aws_sdk_*` types appear; each service behind a Cargo feature.
//! - [`config`], [`error`], [`telemetry`]: typed configuration, the error enum, decision records.

pub mod aws;
pub mod clock;
pub mod config;
pub mod core;
pub mod domain;
pub mod envelope;
pub mod error;
pub mod idempotency;
pub mod invocation;
pub mod ports;
pub mod state;
pub mod telemetry;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use error::{Error, ErrorKind};
