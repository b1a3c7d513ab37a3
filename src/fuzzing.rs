//! The checks behind the fuzz targets in fuzz/fuzz_targets/, kept in the library so that
//! tests/fuzz_corpus.rs replays the committed corpus through the very same code on every
//! `cargo test`.
//!
//! Each check takes arbitrary bytes and must never panic, except through its own assertions,
//! which state a property of docs/FORMAT.md. It returns the deepest assertion the input
//! reached, so the replay can tell that the corpus still gets past the parsers' first
//! refusals. Not part of the public interface.

use std::convert::Infallible;

use crate::container::authenticode::{
    carried_envelope, carrier_extension_value, carrier_oid, SignedDataParts,
};
use crate::container::pe::PeHeaders;
use crate::container::{self, Placement};
use crate::der::{self, tag, Tlv};
use crate::envelope::{Envelope, Payload};

/// The envelopes the container checks pack: any bytes do, the containers never look inside.
const FIRST_ENVELOPE: &[u8] = b"envelope";
const SECOND_ENVELOPE: &[u8] = b"a second, longer envelope";

/// The deepest assertion an input reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reached {
    /// An envelope was accepted and written back to the same bytes.
    EnvelopeRoundTrip,
    /// A plaintext payload was accepted and written back to the same bytes.
    PayloadRoundTrip,
    /// A signed PE took an envelope in a carrier certificate, then gave it back.
    CarrierPacked,
    /// An ELF or unsigned PE took a trailer twice, and kept only the second.
    TrailerPacked,
    /// At least one DER element was accepted and re-encoded to the same bytes.
    DerRoundTrip,
}

/// Target `envelope`: `write(read(x)) == x` for envelopes (section 2) and payloads
/// (section 3).
pub fn envelope(data: &[u8]) -> Option<Reached> {
    let mut reached = None;
    if let Ok(envelope) = Envelope::read(data) {
        assert!(
            envelope.write() == data,
            "an accepted envelope is written differently"
        );
        reached = Some(Reached::EnvelopeRoundTrip);
    }
    if let Ok(payload) = Payload::read(data) {
        assert!(
            payload.write()[..] == data[..],
            "an accepted payload is written differently"
        );
        reached = Some(Reached::PayloadRoundTrip);
    }
    reached
}

/// Target `locate_pe`: inspecting never panics, and a signed PE that packs carries exactly
/// the packed envelope, once, with its checksum fixed (section 4.2).
pub fn locate_pe(data: &[u8]) -> Option<Reached> {
    let _ = container::inspect(&mut &data[..]);
    if !matches!(pe_cert_table(data), Some(Some(_))) {
        return None;
    }

    // Packing may refuse the signature (BER, trailing data); what it accepts must hold.
    let once = container::pack(data, FIRST_ENVELOPE, fake_carrier).ok()?;
    assert_carries(&once, FIRST_ENVELOPE);
    let twice = container::pack(&once, SECOND_ENVELOPE, fake_carrier)
        .expect("a program packed once packs again");
    assert_carries(&twice, SECOND_ENVELOPE);
    Some(Reached::CarrierPacked)
}

fn assert_carries(program: &[u8], envelope: &[u8]) {
    let found = container::inspect(&mut &program[..]).expect("a packed program inspects");
    let want = Some((Placement::SignedCarrier, envelope.to_vec()));
    assert!(
        found.envelope == want,
        "the packed envelope is not the one found"
    );
    let layout = found.authenticode.expect("a packed PE is still a PE");
    assert!(
        layout.signed && layout.checksum_ok,
        "packing broke the layout: {layout:?}"
    );

    // Exactly one carrier, in a table padded to 8 bytes.
    let headers = PeHeaders::parse(&mut &program[..]).expect("a packed PE parses");
    let (offset, size) = headers
        .and_then(|h| h.cert_table)
        .expect("a packed PE is signed");
    assert_eq!(
        size % 8,
        0,
        "the certificate table is not padded to 8 bytes"
    );
    let parts = SignedDataParts::parse(&program[offset as usize..]).expect("the table parses");
    let carriers = parts.certificates.iter().filter(|c| carries(c)).count();
    assert_eq!(
        carriers, 1,
        "a packed program holds one carrier certificate"
    );
}

/// The certificate table of a PE file: `None` for anything else, `Some(None)` if unsigned.
fn pe_cert_table(data: &[u8]) -> Option<Option<(u64, u64)>> {
    PeHeaders::parse(&mut &data[..])
        .ok()
        .flatten()
        .map(|h| h.cert_table)
}

fn carries(cert: &[u8]) -> bool {
    carried_envelope(cert).is_ok_and(|e| e.is_some())
}

/// Target `locate_trailer`: inspecting never panics, and an ELF or unsigned PE takes a
/// trailer that is found again, and packing twice replaces it (section 4.1).
pub fn locate_trailer(data: &[u8]) -> Option<Reached> {
    let _ = container::inspect(&mut &data[..]);
    let unsigned_pe = matches!(pe_cert_table(data), Some(None));
    if !unsigned_pe && !data.starts_with(b"\x7fELF") {
        return None;
    }

    // Packing refuses an old trailer that reaches into the headers; otherwise it must hold.
    let once = container::pack(data, FIRST_ENVELOPE, fake_carrier).ok()?;
    assert_trailer(&once, FIRST_ENVELOPE);
    let twice = container::pack(&once, SECOND_ENVELOPE, fake_carrier)
        .expect("a program packed once packs again");
    assert_trailer(&twice, SECOND_ENVELOPE);
    let program = |packed: &[u8], envelope: &[u8]| {
        packed.len() - envelope.len() - container::trailer::FOOTER_LEN
    };
    assert!(
        twice[..program(&twice, SECOND_ENVELOPE)] == once[..program(&once, FIRST_ENVELOPE)],
        "packing twice stacked the envelopes or changed the program"
    );
    Some(Reached::TrailerPacked)
}

fn assert_trailer(program: &[u8], envelope: &[u8]) {
    let found = container::inspect(&mut &program[..]).expect("a packed program inspects");
    let want = Some((Placement::Trailer, envelope.to_vec()));
    assert!(
        found.envelope == want,
        "the packed envelope is not the one found"
    );
}

/// Target `der`: reading any element and walking its children never panics, and every
/// accepted element is its minimal header followed by its content. The carrier search of
/// section 4.2 walks the same input too.
pub fn der(data: &[u8]) -> Option<Reached> {
    let _ = carried_envelope(data);
    let mut reached = None;

    // Top-level elements one after another, then every constructed element's children;
    // a work list rather than recursion, so deep nesting cannot exhaust the stack.
    let mut pending = Vec::new();
    let mut rest = data;
    while let Ok((tlv, after)) = Tlv::read(rest) {
        pending.push(tlv);
        rest = after;
    }
    while let Some(tlv) = pending.pop() {
        assert_minimal_encoding(&tlv);
        reached = Some(Reached::DerRoundTrip);
        if tlv.tag & 0x20 != 0 {
            pending.extend(tlv.children().map_while(Result::ok));
        }
    }
    reached
}

fn assert_minimal_encoding(tlv: &Tlv) {
    let mut encoded = Vec::with_capacity(tlv.raw.len());
    der::write_header(&mut encoded, tlv.tag, tlv.content.len());
    encoded.extend_from_slice(tlv.content);
    assert!(
        encoded == tlv.raw,
        "an accepted element is not re-encoded to its own bytes"
    );
}

/// A stand-in carrier certificate: only the structure the carrier search walks,
/// `SEQUENCE { SEQUENCE { INTEGER, [3] { SEQUENCE { SEQUENCE { OID, OCTET STRING } } } } }`,
/// with the envelope in the extension of section 4.2.
pub fn fake_carrier(envelope: &[u8]) -> Result<Vec<u8>, Infallible> {
    let mut extension = der::tlv(tag::OID, carrier_oid());
    extension.extend(der::tlv(
        tag::OCTET_STRING,
        &carrier_extension_value(envelope),
    ));
    let extensions = der::tlv(tag::SEQUENCE, &der::tlv(tag::SEQUENCE, &extension));
    let mut tbs = der::tlv(tag::INTEGER, &[1]);
    tbs.extend(der::tlv(tag::CONTEXT_3, &extensions));
    Ok(der::tlv(tag::SEQUENCE, &der::tlv(tag::SEQUENCE, &tbs)))
}
