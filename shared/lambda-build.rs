//! The build script of every Lambda binary (and of the hello-world floor, built the same way).
//! It sets how the binary is linked; only this package's binaries: tests, build scripts and
//! proc macros keep the toolchain's defaults.
//!
//! - Position-dependent on Linux (`-no-pie`): a position-independent binary of this size
//!   carries ~25,000 relative relocations that the loader applies at every cold start, touching
//!   ~180 more pages than the floor; a position-dependent one has none (Go links its Linux
//!   binaries this way by default). The stack, the heap and glibc are still randomised; the code
//!   has no `unsafe` of its own (`unsafe_code = "forbid"`).
//! - Release builds on x86_64, where rustc links with its own LLD: identical functions folded
//!   into one (`--icf=all`), and no `.eh_frame_hdr` lookup table. With the release profile's
//!   `panic = "abort"` nothing unwinds; a panic still prints its message and location, only a
//!   `RUST_BACKTRACE` trace is lost. (arm64 is cross-linked by zig, whose linker keeps its
//!   defaults; debug builds unwind as usual.)
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-no-pie");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    if release && std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
        println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
        println!("cargo:rustc-link-arg-bins=-Wl,--no-eh-frame-hdr");
    }
}
