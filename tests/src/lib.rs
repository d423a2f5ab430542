//! The integration-test harness: the AWS emulator (moto server + halfhour's extension) started
//! once per test binary, SDK configurations pointed at it, a seeded cluster fixture, each loop's
//! test setup and the fault plans.

pub mod emulator;
pub mod faults;
pub mod fixture;
pub mod loops;
pub mod notices;

pub use emulator::{Emulator, LoggedRequest};
pub use fixture::{Cluster, Shape};
