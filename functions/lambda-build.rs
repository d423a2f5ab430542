//! The build script of every Lambda binary (and of the hello-world floor, built the same way):
//! link it position-dependent on Linux. A position-independent binary of this size carries
//! ~25,000 relative relocations that the loader applies at every cold start, touching ~150
//! more pages than the floor; a position-dependent one has none (Go links Linux binaries this
//! way by default). Only this package's binaries: tests, build scripts and proc macros keep
//! the toolchain's default. The stack, heap and shared libraries are still randomised; the
//! code has no `unsafe` of its own (`unsafe_code = "forbid"`).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
