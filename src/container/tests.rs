use super::authenticode::{carrier_extension_value, carrier_oid};
use super::*;
use crate::der::{self, tag};

/// A minimal PE32+ image: headers, `body` bytes, and optionally a certificate table.
fn pe_with(body: &[u8], table: Option<Vec<u8>>) -> Vec<u8> {
    let mut file = vec![0u8; 0x40 + 24 + 240];
    file[0..2].copy_from_slice(b"MZ");
    file[0x3C..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    file[0x40..0x44].copy_from_slice(b"PE\0\0");
    file[0x44..0x46].copy_from_slice(&0x8664u16.to_le_bytes());
    file[0x54..0x56].copy_from_slice(&240u16.to_le_bytes()); // SizeOfOptionalHeader
    let optional = 0x40 + 24;
    file[optional..optional + 2].copy_from_slice(&0x20Bu16.to_le_bytes());
    file[optional + 108..optional + 112].copy_from_slice(&16u32.to_le_bytes());
    file.extend_from_slice(body);
    if let Some(table) = table {
        file.resize(file.len().next_multiple_of(8), 0);
        let entry = optional + 112 + 32;
        let offset = file.len() as u32;
        file[entry..entry + 4].copy_from_slice(&offset.to_le_bytes());
        file[entry + 4..entry + 8].copy_from_slice(&(table.len() as u32).to_le_bytes());
        file.extend_from_slice(&table);
    }
    file
}

/// A stand-in for a real certificate: only the structure the carrier search walks.
fn fake_cert(extension_oid: &[u8], value: &[u8]) -> Vec<u8> {
    let mut extension = der::tlv(tag::OID, extension_oid);
    extension.extend(der::tlv(tag::OCTET_STRING, value));
    let extensions = der::tlv(tag::SEQUENCE, &der::tlv(tag::SEQUENCE, &extension));
    let mut tbs = der::tlv(tag::INTEGER, &[1]);
    tbs.extend(der::tlv(tag::CONTEXT_3, &extensions));
    der::tlv(tag::SEQUENCE, &der::tlv(tag::SEQUENCE, &tbs))
}

fn carrier(envelope: &[u8]) -> Result<Vec<u8>, std::convert::Infallible> {
    Ok(fake_cert(carrier_oid(), &carrier_extension_value(envelope)))
}

/// A WIN_CERTIFICATE around a SignedData with one ordinary certificate.
fn signature_table() -> Vec<u8> {
    let mut signed_data = der::tlv(tag::INTEGER, &[1]);
    signed_data.extend(der::tlv(tag::SET, &[]));
    signed_data.extend(der::tlv(tag::SEQUENCE, &der::tlv(tag::OID, &[0x2B, 6])));
    signed_data.extend(der::tlv(
        tag::CONTEXT_0,
        &fake_cert(&[0x55, 0x1D, 0x0F], &[3, 2, 5, 0]),
    ));
    signed_data.extend(der::tlv(tag::SET, &der::tlv(tag::SEQUENCE, &[2, 1, 1])));
    let mut content_info = der::tlv(tag::OID, &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 1, 7, 2]);
    content_info.extend(der::tlv(
        tag::CONTEXT_0,
        &der::tlv(tag::SEQUENCE, &signed_data),
    ));
    let pkcs7 = der::tlv(tag::SEQUENCE, &content_info);
    let padded = (8 + pkcs7.len()).next_multiple_of(8);
    let mut table = (padded as u32).to_le_bytes().to_vec();
    table.extend_from_slice(&[0x00, 0x02, 0x02, 0x00]);
    table.extend_from_slice(&pkcs7);
    table.resize(padded, 0);
    table
}

fn envelope_of(program: &[u8]) -> Option<(Placement, Vec<u8>)> {
    inspect(&mut &program[..]).unwrap().envelope
}

#[test]
fn elf_trailer_is_found_and_replaced_not_stacked() {
    let elf = [b"\x7fELF".as_slice(), &[0u8; 100]].concat();
    assert_eq!(envelope_of(&elf), None);
    let once = pack(&elf, b"first", carrier).unwrap();
    assert_eq!(
        envelope_of(&once),
        Some((Placement::Trailer, b"first".to_vec()))
    );
    let twice = pack(&once, b"second!", carrier).unwrap();
    assert_eq!(
        envelope_of(&twice),
        Some((Placement::Trailer, b"second!".to_vec()))
    );
    assert_eq!(
        twice.len(),
        elf.len() + 7 + trailer::FOOTER_LEN,
        "the first envelope is gone"
    );
}

#[test]
fn unsigned_pe_gets_a_trailer() {
    let pe = pe_with(&[0x90; 77], None);
    let packed = pack(&pe, b"envelope", carrier).unwrap();
    let found = inspect(&mut &packed[..]).unwrap();
    assert_eq!(found.format, ExecutableFormat::Pe(PeKind::Pe32Plus));
    assert_eq!(found.authenticode.map(|a| a.signed), Some(false));
    assert_eq!(
        found.envelope,
        Some((Placement::Trailer, b"envelope".to_vec()))
    );
}

#[test]
fn signed_pe_carries_the_envelope_in_its_signature() {
    let pe = pe_with(&[0x90; 77], Some(signature_table()));
    let packed = pack(&pe, b"the envelope", carrier).unwrap();
    let repacked = pack(&packed, b"another envelope", carrier).unwrap();
    for (program, want) in [(&packed, "the envelope"), (&repacked, "another envelope")] {
        let found = inspect(&mut &program[..]).unwrap();
        assert_eq!(
            found.envelope,
            Some((Placement::SignedCarrier, want.as_bytes().to_vec()))
        );
        let layout = found.authenticode.unwrap();
        assert!(layout.signed && layout.checksum_ok, "{layout:?}");

        // One WIN_CERTIFICATE, 8-byte aligned, ending the file, with the original cert kept.
        let headers = PeHeaders::parse(&mut &program[..]).unwrap().unwrap();
        let (offset, size) = headers.cert_table.unwrap();
        assert_eq!(size % 8, 0);
        let table = &program[offset as usize..];
        let parts = authenticode::SignedDataParts::parse(table).unwrap();
        assert_eq!(
            parts.certificates.len(),
            2,
            "original + one carrier, never two carriers"
        );
        let found = read_envelope_from(program);
        assert_eq!(found.as_deref(), Some(want.as_bytes()));
    }
    // Only the certificate table and the header fields that describe it changed.
    let body = 0x40 + 24 + 240..pe.len() - signature_table().len();
    assert_eq!(repacked[body.clone()], pe[body]);
}

fn read_envelope_from(program: &[u8]) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("program");
    std::fs::write(&path, program).unwrap();
    read_envelope(&path).unwrap()
}

#[test]
fn data_after_the_signature_is_refused() {
    let mut table = signature_table();
    let last = table.len() - 1;
    table[last] = 1; // a non-zero padding byte
    let pe = pe_with(&[0; 8], Some(table));
    let err = pack(&pe, b"x", carrier).unwrap_err();
    assert!(err.to_string().contains("padding check"), "{err}");

    let mut pe = pe_with(&[0; 8], Some(signature_table()));
    pe.extend_from_slice(b"appended");
    let err = pack(&pe, b"x", carrier).unwrap_err();
    assert!(
        err.to_string().contains("not at the end of the file"),
        "{err}"
    );
}

#[test]
fn non_executables_are_refused() {
    assert!(matches!(
        pack(b"hello world", b"x", carrier),
        Err(PackError::Container(ContainerError::NotExecutable))
    ));
    assert!(matches!(
        inspect(&mut &b"MZ"[..]),
        Err(ContainerError::NotExecutable)
    ));
}

#[test]
fn trailer_with_an_impossible_length_is_an_error_not_a_panic() {
    let mut elf = b"\x7fELF".to_vec();
    elf.extend_from_slice(&u32::MAX.to_le_bytes());
    elf.extend_from_slice(&trailer::MAGIC);
    assert!(matches!(
        inspect(&mut &elf[..]),
        Err(ContainerError::Malformed(_))
    ));
}
