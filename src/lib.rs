//! What both certdrop programs share: the transfer description, the sealed envelope, finding
//! and placing that envelope inside an executable, and the secrets' handling.
//!
//! The sender (`certdrop`) seals envelopes and packs them into receiver stubs; the receiver
//! (`certdrop-receiver`) finds its own envelope and opens it. docs/FORMAT.md specifies the bytes.

#![forbid(unsafe_code)]

pub mod container;
pub mod der;
pub mod envelope;
pub mod secret;
pub mod transfer;
pub mod sigv4;
pub mod credentials;
pub mod net;
pub mod s3;
pub mod safe_name;
