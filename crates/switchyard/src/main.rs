//! The `switchyard` binary: parses flags and wires the library crates together.
//!
//! The allocator is jemalloc with background purging (ADR 0011): after 20 bodies of 31 MB it
//! was back at 22 MiB (glibc kept 317 MiB, mimalloc 242 MiB), and after rounds of 2,000 streams
//! it gave back all but ~30 MiB, which neither glibc nor mimalloc did (BENCHMARKS.md).

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
