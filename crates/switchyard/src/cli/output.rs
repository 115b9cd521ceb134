//! Output for people (aligned tables) and for scripts (`--json`). Writes ignore a closed pipe
//! (`switchyard … | head`) instead of panicking.

use serde::Serialize;
use std::io::Write;

pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
    Ok(())
}

pub fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let mut line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths.get(i).copied().unwrap_or(0)))
            .collect();
        writeln!(out, "{}", parts.join("  ").trim_end())
    };
    let mut result = line(headers.iter().map(|h| h.to_uppercase()).collect());
    if rows.is_empty() && result.is_ok() {
        result = line(vec!["(none)".into()]);
    }
    for row in rows {
        if result.is_err() {
            break;
        }
        result = line(row);
    }
}

pub fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_string(), ToString::to_string)
}
