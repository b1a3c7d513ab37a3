//! `certdrop pack`: a receiver program from a stub, a manifest and an identity.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use certdrop::container;
use certdrop::envelope::{seal, KdfParams, Payload};
use certdrop::secret::Password;
use certdrop::transfer::TransferInfo;
use zeroize::Zeroizing;

use crate::identity::pkcs12_from_pem;
use crate::{carrier, password, PackArgs};

pub fn run(args: &PackArgs) -> Result<()> {
    // Check every input before asking for the password.
    let stub = read(&args.stub, "stub")?;
    let manifest = read_text(&args.manifest, "manifest")?;
    let info = TransferInfo::from_manifest(&manifest)
        .with_context(|| format!("in the manifest {}", args.manifest.display()))?;
    let cert_pem = read_text(&args.cert, "certificate")?;
    let key_pem = Zeroizing::new(read_text(&args.key, "private key")?);
    let kdf = match args.kdf_memory_mib {
        Some(mib) => KdfParams::with_memory_mib(mib).context("--kdf-memory-mib")?,
        None => KdfParams::DEFAULT,
    };
    if args.out.exists() && !args.force {
        bail!(
            "{} already exists; choose another --out or add --force",
            args.out.display()
        );
    }

    let identity = pkcs12_from_pem(&cert_pem, &key_pem)
        .with_context(|| format!("in {} and {}", args.cert.display(), args.key.display()))?;
    let payload = Payload {
        info,
        pkcs12: identity.der,
        pkcs12_password: identity.password,
    };
    let password = password::new_password(args.password_stdin)?;
    let program = pack_program(&stub, &payload, &password, kdf)
        .with_context(|| format!("packing into the stub {}", args.stub.display()))?;
    write_program(&args.out, &program)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// Seals the payload and puts the envelope into the stub.
pub fn pack_program(
    stub: &[u8],
    payload: &Payload,
    password: &Password,
    kdf: KdfParams,
) -> Result<Vec<u8>> {
    let envelope = seal(payload, password, kdf)?.write();
    let program = container::pack(stub, &envelope, carrier::carrier_certificate)?;
    Ok(program)
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading the {what} {}", path.display()))
}

fn read_text(path: &Path, what: &str) -> Result<String> {
    let bytes = read(path, what)?;
    String::from_utf8(bytes).with_context(|| format!("the {what} {} is not UTF-8", path.display()))
}

/// Writes next to the destination, then renames: a failure never leaves a half program.
pub fn write_program(out: &Path, program: &[u8]) -> Result<()> {
    write_atomically(out, program, true)
}

/// Writes a file that is not a program (a zip), under the same rule as [`write_program`].
pub fn write_file(out: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(out, bytes, false)
}

fn write_atomically(out: &Path, bytes: &[u8], executable: bool) -> Result<()> {
    let file_name = out.file_name().context("--out must name a file")?;
    let mut temporary = file_name.to_owned();
    temporary.push(format!(".certdrop-tmp-{}", std::process::id()));
    let temporary = out.with_file_name(temporary);
    let result = fs::write(&temporary, bytes)
        .and_then(|()| match executable {
            true => make_executable(&temporary),
            false => Ok(()),
        })
        .and_then(|()| fs::rename(&temporary, out));
    if let Err(error) = result {
        let _ = fs::remove_file(&temporary);
        let advice = match error.kind() {
            std::io::ErrorKind::StorageFull => {
                " (the disk is full: free some space or choose another --out folder)"
            }
            _ => "",
        };
        return Err(error).with_context(|| format!("writing {}{advice}", out.display()));
    }
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
