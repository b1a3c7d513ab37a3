//! Envelope and payload: write(read(x)) == x (docs/FORMAT.md, sections 2 and 3).
//! The checks are in certdrop::fuzzing, shared with tests/fuzz_corpus.rs.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = certdrop::fuzzing::envelope(data);
});
