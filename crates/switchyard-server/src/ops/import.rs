//! Import and export (filled in below).
