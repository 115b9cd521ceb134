//! OAuth sign-in (filled in below).
