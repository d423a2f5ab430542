//! The integration-test harness: the AWS emulator (moto server + halfhour's extension) started
//! once per test binary, SDK configurations pointed at it, and a seeded cluster fixture.

pub mod emulator;
pub mod fixture;
pub mod notices;

pub use emulator::{Emulator, LoggedRequest};
pub use fixture::{Cluster, Shape};
