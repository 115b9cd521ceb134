//! Strict or lossy: what happens to a field the target cannot carry.
//!
//! The rule is that nothing is dropped silently. By default a reader or writer that
//! meets such a field stops with a [`ConvertError`] naming it, which the relay answers as a 400
//! in the client's dialect; when the key's policy allows lossy conversion the field is left out
//! and listed in [`Fidelity::dropped`], which the relay logs once in the usage record.

use switchyard_core::Dialect;

use crate::errors::error_body_typed;

/// Why a body could not be converted. A request refusal is the client's fault or the pairing's
/// limit, so a 400 (never a retryable status: another account of the same kind would refuse
/// too); only an unreadable upstream answer is a 502.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The client's body is not what its own dialect allows (not JSON, a wrong type).
    #[error("`{field}` is invalid: {why}")]
    Invalid { field: String, why: String },
    /// The field is valid for the client but the target dialect has no place for it.
    #[error("`{field}` cannot be sent to a {target} upstream: {why}")]
    Unsupported {
        field: String,
        target: &'static str,
        why: String,
    },
    /// The target needs the bytes of media the client gave by URL; the caller may fetch it
    /// (size-limited, never to private addresses) and convert again with base64.
    #[error("`{field}` is a URL but a {target} upstream needs the bytes")]
    NeedsFetch {
        field: String,
        target: &'static str,
        url: String,
    },
    /// The upstream's answer is not what its dialect promises (not JSON, a wrong shape): the
    /// upstream's fault, answered as a 502 and treated like a broken body.
    #[error("the upstream's answer could not be read: {why}")]
    Upstream { why: String },
}

impl ConvertError {
    /// The JSON path of the offending field, e.g. `messages[2].content[0].source`.
    pub fn field(&self) -> &str {
        match self {
            ConvertError::Invalid { field, .. }
            | ConvertError::Unsupported { field, .. }
            | ConvertError::NeedsFetch { field, .. } => field,
            ConvertError::Upstream { .. } => "",
        }
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            ConvertError::Upstream { .. } => 502,
            _ => 400,
        }
    }

    /// The error body in the client's dialect.
    pub fn body(&self, client: Dialect) -> String {
        error_body_typed(client, self.status(), None, &self.to_string())
    }

    pub(crate) fn invalid(field: impl Into<String>, why: impl Into<String>) -> ConvertError {
        ConvertError::Invalid {
            field: field.into(),
            why: why.into(),
        }
    }
}

/// A field left out under lossy conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// JSON path in the client's body.
    pub field: String,
    pub why: String,
}

/// The conversion's running record: whether loss is allowed and what was lost or adapted.
#[derive(Debug, Clone)]
pub(crate) struct Fidelity {
    lossy: bool,
    target: Dialect,
    pub(crate) dropped: Vec<Dropped>,
}

impl Fidelity {
    pub(crate) fn new(lossy: bool, target: Dialect) -> Fidelity {
        Fidelity {
            lossy,
            target,
            dropped: Vec::new(),
        }
    }

    /// `field` cannot be carried: an error, or (lossy) a note and `Ok`.
    pub(crate) fn unsupported(
        &mut self,
        field: impl Into<String>,
        why: impl Into<String>,
    ) -> Result<(), ConvertError> {
        let (field, why) = (field.into(), why.into());
        if self.lossy {
            self.dropped.push(Dropped { field, why });
            Ok(())
        } else {
            Err(ConvertError::Unsupported {
                field,
                target: self.target.as_str(),
                why,
            })
        }
    }

    /// `field` is left out or changed because it cannot matter to the answer the target gives
    /// (cache hints, client metadata) or the target's rules demand it; recorded, never refused.
    pub(crate) fn adapted(&mut self, field: impl Into<String>, why: impl Into<String>) {
        let field = field.into();
        if self.dropped.iter().any(|d| d.field == field) {
            return;
        }
        self.dropped.push(Dropped {
            field,
            why: why.into(),
        });
    }

    pub(crate) fn needs_fetch(&self, field: impl Into<String>, url: &str) -> ConvertError {
        ConvertError::NeedsFetch {
            field: field.into(),
            target: self.target.as_str(),
            url: url.to_owned(),
        }
    }
}
