//! Token counts by billing class.

use serde::{Deserialize, Serialize};

/// Tokens of one request, normalised so that every class is billed exactly once:
/// `input_tokens` excludes cache reads and writes, `output_tokens` includes reasoning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens, reasoning included.
    pub output_tokens: u64,
    /// Input tokens written to a 5-minute cache.
    pub cache_creation_5m_tokens: u64,
    /// Input tokens written to a 1-hour cache.
    pub cache_creation_1h_tokens: u64,
    /// Input tokens read from a cache.
    pub cache_read_tokens: u64,
    /// The reasoning part of `output_tokens` (informational; already billed as output).
    pub reasoning_tokens: u64,
}

impl TokenUsage {
    pub fn total(&self) -> u64 {
        self.input_tokens
            + self.output_tokens
            + self.cache_creation_5m_tokens
            + self.cache_creation_1h_tokens
            + self.cache_read_tokens
    }
}
