//! Packing into the Linux receiver, and the receiver opening its own envelope.

use std::process::Command;

use crate::support::*;

#[test]
fn linux_receiver_shows_its_own_transfer_without_network() {
    let transfer = Transfer::new();
    let program = transfer.path("receive");
    transfer.pack_ok(&linux_stub(), &program);

    let output = receive(&program, &["--show"], PASSWORD);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    for expected in [
        "見積書 2026.zip",
        "Sato, Example Corp",
        "The drawings we discussed.",
        "4.77 MiB",
    ] {
        assert!(shown.contains(expected), "missing {expected:?} in\n{shown}");
    }
}

#[test]
fn wrong_password_exits_3_and_says_so() {
    let transfer = Transfer::new();
    let program = transfer.path("receive");
    transfer.pack_ok(&linux_stub(), &program);

    let output = receive(&program, &["--show"], "plum-ocean-42-violet ");
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    assert!(
        text(&output).contains("The password is wrong."),
        "{}",
        text(&output)
    );
}

#[test]
fn unpacked_stub_says_it_carries_nothing_and_exits_2() {
    let output = receive(&linux_stub(), &[], PASSWORD);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("without a transfer inside"),
        "{}",
        text(&output)
    );
}

#[test]
fn japanese_locale_gets_japanese_messages() {
    let output = Command::new(linux_stub())
        .env("LANG", "ja_JP.UTF-8")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output).contains("中身の入っていない"),
        "{}",
        text(&output)
    );
    let mut english = Command::new(linux_stub());
    let output = english
        .args(["--lang", "en"])
        .env("LANG", "ja_JP.UTF-8")
        .output()
        .unwrap();
    assert!(
        text(&output).contains("without a transfer inside"),
        "{}",
        text(&output)
    );
}

#[test]
fn repacking_replaces_the_envelope_instead_of_stacking() {
    let transfer = Transfer::new();
    let first = transfer.path("first");
    transfer.pack_ok(&linux_stub(), &first);

    let mut manifest = manifest_json();
    manifest["sender"] = "Second Sender".into();
    transfer.write_manifest(&manifest);
    let second = transfer.path("second");
    transfer.pack_ok(&first, &second);

    let shown = text(&receive(&second, &["--show"], PASSWORD));
    assert!(
        shown.contains("Second Sender") && !shown.contains("Sato"),
        "{shown}"
    );
    // Packing the stub directly with the same manifest gives a file of the same size.
    let direct = transfer.path("direct");
    transfer.pack_ok(&linux_stub(), &direct);
    let size = |p: &std::path::Path| std::fs::metadata(p).unwrap().len();
    assert_eq!(
        size(&second),
        size(&direct),
        "the first envelope was replaced, not kept"
    );
}

#[test]
fn expired_transfer_is_refused_with_exit_5() {
    let transfer = Transfer::new();
    let mut manifest = manifest_json();
    manifest["expires_at"] = "2020-01-01T00:00:00Z".into();
    transfer.write_manifest(&manifest);
    let program = transfer.path("receive");
    transfer.pack_ok(&linux_stub(), &program);

    let output = receive(&program, &[], PASSWORD);
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    assert!(
        text(&output).contains("This transfer expired on 2020-01-01"),
        "{}",
        text(&output)
    );
}

#[test]
fn damaged_or_truncated_program_exits_4() {
    let transfer = Transfer::new();
    let program = transfer.path("receive");
    transfer.pack_ok(&linux_stub(), &program);
    let bytes = std::fs::read(&program).unwrap();

    // A flipped bit inside the envelope (2 KiB before the end).
    let mut flipped = bytes.clone();
    let at = flipped.len() - 2048;
    flipped[at] ^= 0x10;
    let damaged = transfer.path("damaged");
    std::fs::write(&damaged, &flipped).unwrap();
    make_executable(&damaged);
    let output = receive(&damaged, &["--show"], PASSWORD);
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert!(
        text(&output).contains("This program is damaged"),
        "{}",
        text(&output)
    );

    // An interrupted download: the end of the file is missing.
    let truncated = transfer.path("truncated");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    make_executable(&truncated);
    let output = receive(&truncated, &["--show"], PASSWORD);
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert!(text(&output).contains("cut short"), "{}", text(&output));
}

fn make_executable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn inspect_tells_format_placement_and_kdf_cost_without_the_password() {
    let transfer = Transfer::new();
    let program = transfer.path("receive");
    let stub_report = certdrop()
        .arg("inspect")
        .arg(linux_stub())
        .output()
        .unwrap();
    assert!(
        text(&stub_report).contains("envelope:   none"),
        "{}",
        text(&stub_report)
    );

    transfer.pack_ok(&linux_stub(), &program);
    let output = certdrop().arg("inspect").arg(&program).output().unwrap();
    let report = text(&output);
    assert!(output.status.success(), "{report}");
    for expected in [
        "format:     ELF",
        "after the program",
        "version:    1",
        "Argon2id, 8 MiB, 3",
    ] {
        assert!(
            report.contains(expected),
            "missing {expected:?} in\n{report}"
        );
    }
    assert!(
        !report.contains("Sato"),
        "metadata needs the password:\n{report}"
    );

    let mut unlock = certdrop();
    unlock
        .args(["inspect", "--unlock", "--password-stdin"])
        .arg(&program);
    let unlocked = text(&run_with_stdin(&mut unlock, &format!("{PASSWORD}\n")));
    assert!(
        unlocked.contains("\"sender\": \"Sato, Example Corp\""),
        "{unlocked}"
    );
    assert!(!unlocked.contains(PASSWORD) && !unlocked.to_lowercase().contains("pkcs12"));
}

#[test]
fn pack_refuses_bad_inputs_with_the_reason() {
    let transfer = Transfer::new();
    let program = transfer.path("receive");

    let mut manifest = manifest_json();
    manifest["bukcet"] = "typo".into();
    transfer.write_manifest(&manifest);
    let output = transfer.pack(&linux_stub(), &program, &[]);
    assert!(
        text(&output).contains("unknown field `bukcet`"),
        "{}",
        text(&output)
    );

    transfer.write_manifest(&manifest_json());
    std::fs::write(&program, b"precious").unwrap();
    let output = transfer.pack(&linux_stub(), &program, &[]);
    assert!(
        text(&output).contains("already exists"),
        "{}",
        text(&output)
    );
    assert_eq!(
        std::fs::read(&program).unwrap(),
        b"precious",
        "an existing file is kept"
    );

    let output = transfer.pack(&transfer.path("transfer.json"), &transfer.path("x"), &[]);
    assert!(
        text(&output).contains("neither an ELF nor a PE"),
        "{}",
        text(&output)
    );

    let output = transfer.pack(
        &linux_stub(),
        &transfer.path("x"),
        &["--kdf-memory-mib", "4"],
    );
    assert!(text(&output).contains("8 MiB"), "{}", text(&output));
    assert!(!transfer.path("x").exists());
}

/// What a program shows on a pseudo-terminal, as it arrives.
struct Terminal {
    child: std::process::Child,
    screen: std::sync::Arc<std::sync::Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl Terminal {
    /// Runs `program args` on a pseudo-terminal, through util-linux `script`.
    fn run(program: &std::path::Path, args: &str) -> Self {
        use std::io::Read;
        let command_line = format!("{} {args}", program.display());
        let mut child = Command::new("script")
            .args(["-qec", &command_line, "/dev/null"])
            .env("LANG", "en_US.UTF-8")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("util-linux script runs programs on a terminal");
        let screen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut stdout = child.stdout.take().unwrap();
        let shared = std::sync::Arc::clone(&screen);
        let reader = std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read @ 1..) = stdout.read(&mut buffer) {
                shared
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        });
        Terminal {
            child,
            screen,
            reader,
        }
    }

    fn screen(&self) -> String {
        self.screen.lock().unwrap().clone()
    }

    /// Waits until `text` has been shown `count` times.
    fn wait_for(&self, text: &str, count: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.screen().matches(text).count() < count {
            assert!(
                std::time::Instant::now() < deadline,
                "no {text:?}:\n{}",
                self.screen()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Let the program turn echo off and start reading.
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    fn type_line(&mut self, line: &str) {
        use std::io::Write;
        writeln!(self.child.stdin.as_mut().unwrap(), "{line}").unwrap();
    }

    fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        let screen = std::sync::Arc::clone(&self.screen);
        self.reader.join().unwrap();
        let screen = screen.lock().unwrap().clone();
        (status.code().unwrap_or(-1), screen)
    }
}

/// Types each of `lines` once the program has asked for the password one more time.
fn type_at_prompts(program: &std::path::Path, args: &str, lines: &[&str]) -> (i32, String) {
    let mut terminal = Terminal::run(program, args);
    for (typed, line) in lines.iter().enumerate() {
        terminal.wait_for("Password: ", typed + 1);
        terminal.type_line(line);
    }
    terminal.finish()
}

/// Reads the password the program shows after `label`, then types it at its prompt.
pub fn type_at_prompts_with_password_from_output(
    program: &std::path::Path,
    args: &str,
    label: &str,
) -> (i32, String) {
    let mut terminal = Terminal::run(program, args);
    terminal.wait_for("Password: ", 1);
    let screen = terminal.screen();
    let shown = screen
        .lines()
        .find_map(|l| l.split(label).nth(1))
        .expect("a password is shown");
    terminal.type_line(shown.trim());
    terminal.finish()
}

#[test]
fn each_wrong_password_at_the_terminal_is_named_and_the_fifth_ends_it() {
    let transfer = Transfer::new();
    let program = transfer.path("receive");
    transfer.pack_ok(&linux_stub(), &program);

    let (code, screen) = type_at_prompts(&program, "--show --lang en", &["no", "nope", PASSWORD]);
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("Please try again (4 attempts left)"),
        "{screen}"
    );
    assert!(
        screen.contains("Please try again (3 attempts left)"),
        "{screen}"
    );
    assert!(screen.contains("Sato, Example Corp"), "{screen}");
    assert!(
        !screen.contains(PASSWORD),
        "the password is never echoed:\n{screen}"
    );

    let wrong = ["a", "b", "c", "d", "e"];
    let (code, screen) = type_at_prompts(&program, "--show --lang en", &wrong);
    assert_eq!(code, 3, "{screen}");
    assert!(
        screen.contains("The password was wrong five times"),
        "{screen}"
    );
    assert!(
        !screen.contains("Sato"),
        "nothing is shown without the password:\n{screen}"
    );
}
