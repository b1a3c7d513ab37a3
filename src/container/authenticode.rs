//! The envelope inside an Authenticode signature (docs/FORMAT.md, section 4.2): one more
//! certificate in the PKCS#7 `SignedData.certificates` set, which the signature does not cover.

use std::sync::OnceLock;

use super::ContainerError;
use crate::der::{self, tag, Tlv};

/// `2.25.29961669334769984875729832834938873676`: the carrier certificate's extension.
pub const CARRIER_OID_ARCS: [u128; 3] = [2, 25, 29961669334769984875729832834938873676];

/// The content octets of [`CARRIER_OID_ARCS`].
pub fn carrier_oid() -> &'static [u8] {
    static OID: OnceLock<Vec<u8>> = OnceLock::new();
    OID.get_or_init(|| der::oid_content(&CARRIER_OID_ARCS))
}

/// 1.2.840.113549.1.7.2
const SIGNED_DATA_OID: [u8; 9] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
const WIN_CERT_REVISION_2_0: u16 = 0x0200;
const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 0x0002;
const WIN_CERTIFICATE_HEADER: usize = 8;

/// One `WIN_CERTIFICATE` holding a PKCS#7 `ContentInfo`, taken apart so that its certificate
/// set can be changed while every other byte is kept.
pub struct SignedDataParts<'a> {
    /// `version`, `digestAlgorithms` and `encapContentInfo`, as they were.
    before_certificates: &'a [u8],
    /// Each certificate, as it was.
    pub certificates: Vec<&'a [u8]>,
    /// `crls` (if any) and `signerInfos`, as they were.
    after_certificates: &'a [u8],
}

impl<'a> SignedDataParts<'a> {
    /// Parses the whole attribute certificate table, which must hold exactly one
    /// `WIN_CERTIFICATE` of type PKCS_SIGNED_DATA followed by at most 7 zero bytes.
    pub fn parse(table: &'a [u8]) -> Result<Self, ContainerError> {
        const SHORT: ContainerError =
            ContainerError::BadSignature("the certificate table is shorter than its header");
        let header = table.get(..WIN_CERTIFICATE_HEADER).ok_or(SHORT)?;
        let length = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
        let revision = u16::from_le_bytes([header[4], header[5]]);
        let kind = u16::from_le_bytes([header[6], header[7]]);
        if revision != WIN_CERT_REVISION_2_0 || kind != WIN_CERT_TYPE_PKCS_SIGNED_DATA {
            return Err(ContainerError::BadSignature(
                "the signature is not PKCS#7 SignedData",
            ));
        }
        if length != table.len() {
            return Err(ContainerError::BadSignature(
                "the table holds more than one WIN_CERTIFICATE, or its length is wrong",
            ));
        }
        let body = &table[WIN_CERTIFICATE_HEADER..];
        let (content_info, padding) = Tlv::expect(body, tag::SEQUENCE)?;
        if padding.len() > 7 || padding.iter().any(|b| *b != 0) {
            return Err(ContainerError::BadSignature(
                "data follows the signature (Windows' padding check would reject it)",
            ));
        }
        Self::from_content_info(content_info)
    }

    fn from_content_info(content_info: Tlv<'a>) -> Result<Self, ContainerError> {
        let (oid, rest) = Tlv::expect(content_info.content, tag::OID)?;
        if oid.content != SIGNED_DATA_OID {
            return Err(ContainerError::BadSignature(
                "the signature is not PKCS#7 SignedData",
            ));
        }
        let (explicit, after_explicit) = Tlv::expect(rest, tag::CONTEXT_0)?;
        let (signed_data, after_signed_data) = Tlv::expect(explicit.content, tag::SEQUENCE)?;
        if !after_explicit.is_empty() || !after_signed_data.is_empty() {
            // Rebuilding would drop these bytes and break the signature.
            return Err(ContainerError::BadSignature(
                "ContentInfo has unexpected trailing bytes",
            ));
        }

        // version, digestAlgorithms, encapContentInfo
        let mut rest = signed_data.content;
        for expected in [tag::INTEGER, tag::SET, tag::SEQUENCE] {
            rest = Tlv::expect(rest, expected)?.1;
        }
        let before_certificates = &signed_data.content[..signed_data.content.len() - rest.len()];

        let mut certificates = Vec::new();
        if let Ok((set, after)) = Tlv::expect(rest, tag::CONTEXT_0) {
            for cert in set.children() {
                certificates.push(cert?.raw);
            }
            rest = after;
        }
        // crls (optional), then signerInfos: kept as they are, but checked to be well formed.
        let mut after = rest;
        if let Ok((_, next)) = Tlv::expect(after, tag::CONTEXT_1) {
            after = next;
        }
        let (_, trailing) = Tlv::expect(after, tag::SET)?;
        if !trailing.is_empty() {
            return Err(ContainerError::BadSignature(
                "SignedData has unexpected trailing fields",
            ));
        }
        Ok(SignedDataParts {
            before_certificates,
            certificates,
            after_certificates: rest,
        })
    }

    /// The envelope of the first carrier certificate, if any.
    pub fn envelope(&self) -> Result<Option<&'a [u8]>, ContainerError> {
        for cert in &self.certificates {
            if let Some(envelope) = carried_envelope(cert)? {
                return Ok(Some(envelope));
            }
        }
        Ok(None)
    }

    /// A new `WIN_CERTIFICATE` (padded to 8 bytes) with every carrier certificate removed
    /// and `carrier` (a DER certificate), if given, added last.
    pub fn rebuild(&self, carrier: Option<&[u8]>) -> Result<Vec<u8>, ContainerError> {
        let mut kept = Vec::new();
        for cert in &self.certificates {
            if carried_envelope(cert)?.is_none() {
                kept.extend_from_slice(cert);
            }
        }
        kept.extend_from_slice(carrier.unwrap_or_default());

        let mut signed_data = self.before_certificates.to_vec();
        signed_data.extend_from_slice(&der::tlv(tag::CONTEXT_0, &kept));
        signed_data.extend_from_slice(self.after_certificates);
        let mut content_info = der::tlv(tag::OID, &SIGNED_DATA_OID);
        content_info.extend(der::tlv(
            tag::CONTEXT_0,
            &der::tlv(tag::SEQUENCE, &signed_data),
        ));
        let pkcs7 = der::tlv(tag::SEQUENCE, &content_info);

        let padded = (WIN_CERTIFICATE_HEADER + pkcs7.len()).next_multiple_of(8);
        let length = u32::try_from(padded)
            .map_err(|_| ContainerError::Malformed("the signature would exceed 4 GiB"))?;
        let mut out = Vec::with_capacity(padded);
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&WIN_CERT_REVISION_2_0.to_le_bytes());
        out.extend_from_slice(&WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_le_bytes());
        out.extend_from_slice(&pkcs7);
        out.resize(padded, 0);
        Ok(out)
    }
}

/// The envelope in a certificate's carrier extension, if it has one.
///
/// `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { ..., [3] EXPLICIT Extensions }, ... }`
/// `Extension ::= SEQUENCE { extnID OID, critical BOOLEAN OPTIONAL, extnValue OCTET STRING }`
pub fn carried_envelope(cert: &[u8]) -> Result<Option<&[u8]>, ContainerError> {
    let (certificate, _) = Tlv::expect(cert, tag::SEQUENCE)?;
    let (tbs, _) = Tlv::expect(certificate.content, tag::SEQUENCE)?;
    for field in tbs.children() {
        let field = field?;
        if field.tag != tag::CONTEXT_3 {
            continue;
        }
        let (extensions, _) = Tlv::expect(field.content, tag::SEQUENCE)?;
        for extension in extensions.children() {
            let (oid, mut rest) = Tlv::expect(extension?.content, tag::OID)?;
            if oid.content != carrier_oid() {
                continue;
            }
            if let Ok((_, after)) = Tlv::expect(rest, tag::BOOLEAN) {
                rest = after;
            }
            let (value, _) = Tlv::expect(rest, tag::OCTET_STRING)?;
            let (envelope, trailing) = Tlv::expect(value.content, tag::OCTET_STRING)?;
            if !trailing.is_empty() {
                return Err(ContainerError::Malformed(
                    "the carrier extension has trailing bytes",
                ));
            }
            return Ok(Some(envelope.content));
        }
    }
    Ok(None)
}

/// The `extnValue` content of a carrier extension: the envelope as a DER OCTET STRING.
pub fn carrier_extension_value(envelope: &[u8]) -> Vec<u8> {
    der::tlv(tag::OCTET_STRING, envelope)
}
