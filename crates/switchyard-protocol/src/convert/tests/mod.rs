//! Tests of the conversion as a whole: golden fixtures per direction, refusals, and property
//! tests that every converted stream is valid for the client's dialect.
//!
//! Fixtures (`fixtures/`) are written from the documented wire formats
//! (`upstream-protocols.md`, the providers' API references). Golden outputs (`golden/`) were
//! generated with `SWITCHYARD_BLESS=1` and read by hand; a change to any of them shows in review.

mod golden;
mod properties;
mod refusals;
mod validity;

use std::path::PathBuf;

use switchyard_core::Dialect;

use super::StreamOptions;
use crate::convert::StreamConverter;
use crate::transform::StreamTransform;

pub(super) const DIALECTS: [Dialect; 4] = [
    Dialect::Anthropic,
    Dialect::OpenaiChat,
    Dialect::OpenaiResponses,
    Dialect::Gemini,
];

/// Every (from, to) pair that converts.
pub(super) fn pairs() -> impl Iterator<Item = (Dialect, Dialect)> {
    DIALECTS
        .into_iter()
        .flat_map(|a| DIALECTS.into_iter().map(move |b| (a, b)))
        .filter(|(a, b)| a != b)
}

pub(super) fn short(d: Dialect) -> &'static str {
    match d {
        Dialect::Anthropic => "anthropic",
        Dialect::OpenaiChat => "chat",
        Dialect::OpenaiResponses => "responses",
        Dialect::Gemini => "gemini",
    }
}

pub(super) fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/convert/tests")
}

pub(super) fn fixture(name: &str) -> Vec<u8> {
    let path = dir().join("fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub(super) const CREATED: u64 = 1_759_350_264;

pub(super) fn stream_options() -> StreamOptions {
    StreamOptions {
        created: CREATED,
        model: None,
        chat_include_usage: true,
        freeform_tools: Vec::new(),
        gemini_code_assist: false,
    }
}

/// Converts a whole upstream stream delivered in the given pieces; returns the client bytes.
pub(super) fn convert_stream(
    upstream: Dialect,
    client: Dialect,
    pieces: &[&[u8]],
) -> (Vec<u8>, StreamConverter) {
    let mut c = StreamConverter::new(upstream, client, &stream_options());
    let mut out = Vec::new();
    for p in pieces {
        c.push(p, &mut out);
    }
    c.finish(&mut out);
    (out, c)
}
