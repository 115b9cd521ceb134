//! Reasoning proofs across dialects: carried back to the provider that made them, dropped —
//! never forged — everywhere else.
//!
//! Anthropic signs `thinking` blocks, OpenAI Responses returns `encrypted_content` on reasoning
//! items, Gemini attaches `thoughtSignature` to parts. Each is opaque and only its maker can
//! verify it, and each must come back in later turns for reasoning (and, for Gemini 3 and
//! Anthropic with tools, the request itself) to work. When a proof is shown to a client of
//! another dialect it is tagged with its origin (`sy:<o>:`), so that when the client sends it
//! back it is returned to its maker and left out for any other target. Chat Completions has no
//! field for proofs, so they are dropped there.
//!
//! Gemini clients decode `thoughtSignature` as base64 bytes, so a tagged proof shown to them is
//! base64 of the tagged text.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use switchyard_core::Dialect;

/// Which provider made a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Anthropic,
    Responses,
    Gemini,
}

impl Origin {
    fn tag(self) -> &'static str {
        match self {
            Origin::Anthropic => "a",
            Origin::Responses => "r",
            Origin::Gemini => "g",
        }
    }

    /// The provider of a dialect's upstream; Chat makes no proofs.
    pub fn of(dialect: Dialect) -> Option<Origin> {
        match dialect {
            Dialect::Anthropic => Some(Origin::Anthropic),
            Dialect::OpenaiResponses => Some(Origin::Responses),
            Dialect::Gemini => Some(Origin::Gemini),
            Dialect::OpenaiChat => None,
        }
    }
}

/// One proof with its maker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub origin: Origin,
    /// The proof exactly as its maker gave it.
    pub value: String,
    /// Responses only: the reasoning item's id, which must come back with its content.
    pub item_id: Option<String>,
}

const PREFIX: &str = "sy:";

impl Signature {
    pub fn new(origin: Origin, value: impl Into<String>) -> Signature {
        Signature {
            origin,
            value: value.into(),
            item_id: None,
        }
    }

    /// Whether the proof may be sent to an upstream of `target`.
    pub fn usable_by(&self, target: Dialect) -> bool {
        Origin::of(target) == Some(self.origin)
    }

    /// The text to put in a `client`-dialect field (`signature`, `encrypted_content`,
    /// `thoughtSignature`). `None` for Chat, which has no such field.
    pub fn for_client(&self, client: Dialect) -> Option<String> {
        let native = Origin::of(client)?;
        if native == self.origin {
            return Some(self.value.clone());
        }
        let tagged = match (&self.item_id, self.origin) {
            (Some(id), Origin::Responses) => {
                format!("{PREFIX}{}:{id}:{}", self.origin.tag(), self.value)
            }
            _ => format!("{PREFIX}{}::{}", self.origin.tag(), self.value),
        };
        Some(match client {
            Dialect::Gemini => STANDARD.encode(tagged),
            _ => tagged,
        })
    }

    /// Reads a proof a `client` sent back. `item_id` is the Responses reasoning item's id.
    pub fn from_client(client: Dialect, text: &str, item_id: Option<&str>) -> Option<Signature> {
        let native = Origin::of(client)?;
        let decoded;
        let tagged = match client {
            Dialect::Gemini => match STANDARD.decode(text) {
                Ok(bytes) if bytes.starts_with(PREFIX.as_bytes()) => {
                    decoded = String::from_utf8(bytes).ok();
                    decoded.as_deref()
                }
                _ => None,
            },
            _ => text.starts_with(PREFIX).then_some(text),
        };
        let Some(tagged) = tagged else {
            return Some(Signature {
                origin: native,
                value: text.to_owned(),
                item_id: item_id.map(str::to_owned),
            });
        };
        let rest = tagged.strip_prefix(PREFIX)?;
        let (tag, rest) = rest.split_once(':')?;
        let (id, value) = rest.split_once(':')?;
        let origin = match tag {
            "a" => Origin::Anthropic,
            "r" => Origin::Responses,
            "g" => Origin::Gemini,
            _ => return None,
        };
        Some(Signature {
            origin,
            value: value.to_owned(),
            item_id: (!id.is_empty()).then(|| id.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_round_trip_through_every_client_dialect() {
        let proofs = [
            Signature::new(Origin::Anthropic, "EqQBCkgIAR=="),
            Signature::new(Origin::Gemini, "CiQB0e2Kb=="),
            Signature {
                origin: Origin::Responses,
                value: "gAAAAABo-x_y==".into(),
                item_id: Some("rs_123".into()),
            },
        ];
        for client in [
            Dialect::Anthropic,
            Dialect::OpenaiResponses,
            Dialect::Gemini,
        ] {
            for proof in &proofs {
                let shown = proof.for_client(client).unwrap();
                let native = Origin::of(client) == Some(proof.origin);
                let id = native.then_some(proof.item_id.as_deref()).flatten();
                let back = Signature::from_client(client, &shown, id).unwrap();
                assert_eq!(&back, proof, "{client:?}");
            }
        }
        assert_eq!(proofs[0].for_client(Dialect::OpenaiChat), None);
    }

    #[test]
    fn a_proof_is_only_usable_by_its_maker() {
        let g = Signature::new(Origin::Gemini, "x");
        assert!(g.usable_by(Dialect::Gemini));
        assert!(!g.usable_by(Dialect::Anthropic));
        assert!(!g.usable_by(Dialect::OpenaiChat));
    }
}
