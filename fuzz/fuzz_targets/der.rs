//! DER: reading never panics; accepted elements re-encode to their own bytes.
//! The checks are in certdrop::fuzzing, shared with tests/fuzz_corpus.rs.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = certdrop::fuzzing::der(data);
});
