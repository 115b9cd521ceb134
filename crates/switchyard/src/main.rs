//! The `switchyard` binary: parses flags and wires the library crates together.
//!
//! The system allocator is deliberate: with many long-lived streams it keeps RSS about a
//! third lower than mimalloc did (40 vs 63 KiB per open stream, BENCHMARKS.md), at some
//! throughput cost at saturation.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
