//! `certdrop inspect`: what a program is and carries, without (or with) the password.

use anyhow::{Context, Result};
use certdrop::container::{self, FileSource, Placement};
use certdrop::envelope::Envelope;

use crate::{password, InspectArgs};

pub fn run(args: &InspectArgs) -> Result<()> {
    let path = &args.program;
    let mut source =
        FileSource::open(path).with_context(|| format!("opening {}", path.display()))?;
    let found =
        container::inspect(&mut source).with_context(|| format!("examining {}", path.display()))?;

    println!("program:    {}", path.display());
    println!("format:     {}", found.format);
    if let Some(layout) = found.authenticode {
        let state = match (layout.signed, layout.checksum_ok) {
            (false, _) => "none",
            (true, true) => "Authenticode, structurally valid (PE checksum matches)",
            (true, false) => "Authenticode, but the PE checksum does not match",
        };
        println!("signature:  {state}");
    }
    let Some((placement, bytes)) = found.envelope else {
        println!("envelope:   none (an unpacked receiver stub)");
        return Ok(());
    };
    let place = match placement {
        Placement::Trailer => "after the program",
        Placement::SignedCarrier => "inside the Authenticode signature",
    };
    let envelope = Envelope::read(&bytes).context("the envelope is unreadable")?;
    let kdf = envelope.header.kdf;
    println!("envelope:   {} bytes, {place}", bytes.len());
    println!("version:    {}", envelope.header.version);
    println!(
        "kdf:        Argon2id, {} MiB, {} passes, {} lane(s)",
        kdf.memory_kib / 1024,
        kdf.passes,
        kdf.lanes
    );
    if !args.unlock {
        return Ok(());
    }

    let password = password::existing_password(args.password_stdin)?;
    let payload = envelope.open(&password)?;
    let json = serde_json::to_string_pretty(&payload.info).expect("transfer info serializes");
    println!("transfer:   {json}");
    Ok(())
}
