//! One scale for "how hard to think": token budgets (Anthropic `thinking.budget_tokens`, Gemini
//! 2.5 `thinkingBudget`) and effort levels (OpenAI `reasoning_effort` / `reasoning.effort`,
//! Gemini 3 `thinkingLevel`).
//!
//! The table is chosen so that effort → budget → effort is the identity for `low`, `medium` and
//! `high`, and every budget stays within what Gemini 2.5 Flash accepts (24,576) and above
//! Anthropic's minimum (1,024).

use super::ir::Effort;

/// Anthropic's smallest thinking budget.
pub(crate) const ANTHROPIC_MIN_BUDGET: u64 = 1024;

pub(crate) fn effort_budget(effort: Effort) -> u64 {
    match effort {
        Effort::Minimal => 1024,
        Effort::Low => 2048,
        Effort::Medium => 8192,
        Effort::High => 24576,
    }
}

pub(crate) fn budget_effort(budget: u64) -> Effort {
    match budget {
        0..4096 => Effort::Low,
        4096..16384 => Effort::Medium,
        _ => Effort::High,
    }
}

/// Reads an effort word as any of the dialects spell it. `None` for `none` (reasoning off) is
/// the caller's business; unknown words are `Err`.
pub(crate) fn parse_effort(word: &str) -> Result<Option<Effort>, ()> {
    match word {
        "none" => Ok(None),
        "minimal" => Ok(Some(Effort::Minimal)),
        "low" => Ok(Some(Effort::Low)),
        "medium" => Ok(Some(Effort::Medium)),
        // Anthropic's `max` and OpenAI's `xhigh` are above `high`; `high` is the top every
        // target shares.
        "high" | "xhigh" | "max" => Ok(Some(Effort::High)),
        _ => Err(()),
    }
}

pub(crate) fn effort_word(effort: Effort) -> &'static str {
    match effort {
        Effort::Minimal => "minimal",
        Effort::Low => "low",
        Effort::Medium => "medium",
        Effort::High => "high",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effort_survives_a_trip_through_a_budget() {
        for e in [Effort::Low, Effort::Medium, Effort::High] {
            assert_eq!(budget_effort(effort_budget(e)), e);
        }
        assert!(effort_budget(Effort::Minimal) >= ANTHROPIC_MIN_BUDGET);
    }
}
