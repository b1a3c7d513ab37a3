//! PE files: inspecting never panics; a signed PE carries what it packs (section 4.2).
//! The checks are in certdrop::fuzzing, shared with tests/fuzz_corpus.rs.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = certdrop::fuzzing::locate_pe(data);
});
