//! The one shape of a response-stream transform: the few named changes the relay may make to
//! upstream bytes (DESIGN.md, phase 7) all take chunks split anywhere and append what the client
//! receives, so the passthrough body can drive any of them the same way.

/// A named change to a response stream.
pub trait StreamTransform: Send {
    /// Takes an upstream chunk (split anywhere) and appends to `out` the bytes to send now.
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>);
    /// The upstream ended: appends anything still held back.
    fn finish(&mut self, out: &mut Vec<u8>);
}

impl StreamTransform for crate::ChatUsageStripper {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        crate::ChatUsageStripper::push(self, chunk, out)
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        crate::ChatUsageStripper::finish(self, out)
    }
}
