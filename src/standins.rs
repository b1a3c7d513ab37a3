//! Local stand-ins for the two AWS services the receiver talks to, for the tests and for
//! `certdrop demo`. Only built with the `standins` feature; never linked into the receiver.
//!
//! - [`pki`]: a throwaway certificate authority that issues server and client certificates.
//! - [`credentials`]: an emulator of the AWS IoT credentials provider
//!   (`GET /role-aliases/<alias>/credentials` over mutual TLS), which hands out temporary
//!   credentials of its own or, in [`moto`] mode, credentials assumed in a moto server.
//! - [`s3`]: s3s-fs served over plain HTTP, with a signature check against the issued
//!   credentials and the access the shared receiver role grants.
//! - [`Stack`]: all of the above on a runtime of their own, behind a synchronous handle that
//!   stops every server when dropped.

pub mod credentials;
pub mod moto;
pub mod pki;
pub mod s3;
pub mod signed;

mod random;
mod server;
mod stack;

#[cfg(test)]
mod tests;

pub use server::ServerHandle;
pub use stack::{Stack, StackConfig, StackError};
