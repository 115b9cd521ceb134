//! The `switchyard` binary: parses flags and wires the library crates together.
//!
//! The system allocator is deliberate: with many long-lived streams it keeps RSS about a
//! third lower than mimalloc did (40 vs 63 KiB per open stream, BENCHMARKS.md), at some
//! throughput cost at saturation.

mod cli;

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    // Freed memory goes back to the system in the background (dirty pages decay over ~10 s)
    // rather than only when another allocation happens to trigger a purge.
    #[cfg(feature = "jemalloc")]
    let _ = tikv_jemalloc_ctl::background_thread::write(true);
    cli::main()
}
