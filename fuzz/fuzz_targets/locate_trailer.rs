//! ELF and unsigned PE files: a packed trailer is found, never stacked (section 4.1).
//! The checks are in certdrop::fuzzing, shared with tests/fuzz_corpus.rs.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = certdrop::fuzzing::locate_trailer(data);
});
