//! `certdrop demo`: the README's main command, end to end.

use crate::support::*;

#[test]
fn demo_sends_and_receives_a_verified_file_without_aws() {
    let output = certdrop()
        .args(["-v", "demo", "--non-interactive", "--size-mib", "20"])
        .output();
    let output = output.unwrap();
    let shown = text(&output);
    assert!(output.status.success(), "{shown}");
    for step in [
        // `certdrop send`'s uploader, in parts (20 MiB is more than one part).
        "multipart upload started",
        "demo: uploaded to s3://",
        "demo: packed the receiver program",
        "Done. The file is verified",
        "demo: verified: the received file is identical to the sent one; receipt: receipts/",
    ] {
        assert!(shown.contains(step), "missing {step:?} in\n{shown}");
    }
    let folder = shown
        .lines()
        .find_map(|l| l.strip_prefix("demo: packed the receiver program: "));
    let folder = std::path::Path::new(folder.expect("the program's path"))
        .parent()
        .unwrap();
    assert!(
        !folder.exists(),
        "the demo removes its folder: {}",
        folder.display()
    );
}

#[test]
fn interactive_demo_lets_the_person_type_the_password() {
    let (code, screen) = crate::pack::type_at_prompts_with_password_from_output(
        &std::path::PathBuf::from(env!("CARGO_BIN_EXE_certdrop")),
        "demo --size-mib 4",
        "the password to pass on by another channel: ",
    );
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Done. The file is verified"), "{screen}");
}
