//! End-to-end tests: the real programs, run as the sender and the recipient would run them.
//! One test binary for all of them keeps linking time down on a 2-core machine.

mod demo;
mod faults;
mod pack;
mod receive;
mod sender;
mod standins;
mod support;
mod windows;
mod wine;
