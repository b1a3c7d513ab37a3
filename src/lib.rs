//! What both certdrop programs share: the transfer description, the sealed envelope, finding
//! and placing that envelope inside an executable, and the secrets' handling.
//!
//! The sender (`certdrop`) seals envelopes and packs them into receiver stubs; the receiver
//! (`certdrop-receiver`) finds its own envelope and opens it. docs/FORMAT.md specifies the bytes.

// `deny`, not `forbid`: key_cleanup's Windows module alone opts in, to call the Windows API.
#![deny(unsafe_code)]

pub mod container;
pub mod credentials;
pub mod der;
pub mod download;
pub mod envelope;
#[doc(hidden)]
pub mod fuzzing;
pub mod key_cleanup;
pub mod net;
pub mod receipt;
pub mod s3;
pub mod safe_name;
pub mod secret;
pub mod sigv4;
#[cfg(feature = "standins")]
pub mod standins;
pub mod transfer;
