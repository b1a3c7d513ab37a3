//! Embeds the Windows resources into the receiver, and into nothing else: version information
//! from Cargo.toml, the icon, and the application manifest (UTF-8 code page, no elevation,
//! Windows 10/11). What counts is the target being built for, never the host.
//!
//! GNU targets compile the resources with mingw-w64's `windres` (`WINDRES` overrides it);
//! MSVC targets with the Windows SDK's `rc.exe` (`RC` overrides it).

use std::env;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The only binary that gets the resources: the sender never does.
const RECEIVER: &str = "certdrop-receiver";
const ICON: &str = "receiver-stub/resources/certdrop-receiver.ico";
const MANIFEST: &str = "receiver-stub/resources/certdrop-receiver.manifest";
/// What Explorer and Task Manager show as the program's description.
const DESCRIPTION: &str = "certdrop file receiver";

fn main() {
    for input in ["build.rs", ICON, MANIFEST] {
        println!("cargo:rerun-if-changed={input}");
    }
    println!("cargo:rerun-if-env-changed=WINDRES");
    println!("cargo:rerun-if-env-changed=RC");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let script = out_dir.join("receiver.rc");
    fs::write(&script, resource_script())
        .unwrap_or_else(|e| panic!("writing {}: {e}", script.display()));
    let compiled = match env::var("CARGO_CFG_TARGET_ENV").as_deref() {
        Ok("msvc") => compile_with_rc(&script, &out_dir),
        _ => compile_with_windres(&script, &out_dir),
    };
    println!("cargo:rustc-link-arg-bin={RECEIVER}={}", compiled.display());
}

/// The resource script: icon, manifest (resource type 24, id 1) and VERSIONINFO.
fn resource_script() -> String {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let icon = rc_string(&root.join(ICON).to_string_lossy());
    let manifest = rc_string(&root.join(MANIFEST).to_string_lossy());
    let version = env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    let numbers = version_numbers();
    let strings = [
        ("FileDescription", DESCRIPTION),
        ("FileVersion", &version),
        ("InternalName", RECEIVER),
        ("OriginalFilename", &format!("{RECEIVER}.exe")),
        ("ProductName", "certdrop"),
        ("ProductVersion", &version),
    ];
    let values: String = strings
        .iter()
        .map(|(key, value)| format!("      VALUE \"{key}\", {}\n", rc_string(value)))
        .collect();
    format!(
        "#pragma code_page(65001)\n\
         1 ICON {icon}\n\
         1 24 {manifest}\n\
         1 VERSIONINFO\n\
         FILEVERSION {numbers}\n\
         PRODUCTVERSION {numbers}\n\
         FILEFLAGSMASK 0x3F\n\
         FILEFLAGS 0x0\n\
         FILEOS 0x40004\n\
         FILETYPE 0x1\n\
         FILESUBTYPE 0x0\n\
         BEGIN\n\
         \x20 BLOCK \"StringFileInfo\"\n\
         \x20 BEGIN\n\
         \x20   BLOCK \"040904B0\"\n\
         \x20   BEGIN\n\
         {values}\
         \x20   END\n\
         \x20 END\n\
         \x20 BLOCK \"VarFileInfo\"\n\
         \x20 BEGIN\n\
         \x20   VALUE \"Translation\", 0x409, 1200\n\
         \x20 END\n\
         END\n"
    )
}

/// `major,minor,patch,0` from Cargo.toml's version: each part must fit in 16 bits.
fn version_numbers() -> String {
    let part = |name: &str| {
        let text = env::var(name).expect("cargo sets the version parts");
        let number: u16 = text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text} does not fit a Windows version field"));
        number
    };
    let (major, minor, patch) = (
        part("CARGO_PKG_VERSION_MAJOR"),
        part("CARGO_PKG_VERSION_MINOR"),
        part("CARGO_PKG_VERSION_PATCH"),
    );
    format!("{major},{minor},{patch},0")
}

/// A quoted resource-script string: backslashes and quotes escaped.
fn rc_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\"\""))
}

/// A COFF object holding the `.rsrc` section, for the GNU linker.
fn compile_with_windres(script: &Path, out_dir: &Path) -> PathBuf {
    let object = out_dir.join("receiver-resources.o");
    let mut args = vec!["--input-format=rc".into(), "--output-format=coff".into()];
    args.extend(["-i".into(), script.as_os_str().to_owned()]);
    args.extend(["-o".into(), object.as_os_str().to_owned()]);
    run_first_found(&windres_candidates(), &args);
    object
}

/// `WINDRES`, else mingw-w64's name for the target's architecture, else plain `windres`
/// (MSYS2 installs it under that name).
fn windres_candidates() -> Vec<String> {
    if let Ok(given) = env::var("WINDRES") {
        return vec![given];
    }
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets the target architecture");
    let prefix = match arch.as_str() {
        "x86" => "i686",
        other => other,
    };
    vec![format!("{prefix}-w64-mingw32-windres"), "windres".into()]
}

/// A `.res` file, which the MSVC linker takes as an input of its own.
// Limitation: this path is written for `rc.exe` from a Visual Studio developer prompt but is
// not exercised by CI (which cross-builds with mingw-w64 only), so an MSVC build is the first
// to find a mistake here; docs for IT should have them check the file's properties once.
fn compile_with_rc(script: &Path, out_dir: &Path) -> PathBuf {
    let res = out_dir.join("receiver-resources.res");
    let program = env::var("RC").unwrap_or_else(|_| "rc.exe".into());
    let mut fo = std::ffi::OsString::from("/fo");
    fo.push(&res);
    let args = ["/nologo".into(), fo, script.as_os_str().to_owned()];
    run_first_found(&[program], &args);
    res
}

/// Runs the first program of `candidates` that exists; it must succeed.
fn run_first_found(candidates: &[String], args: &[std::ffi::OsString]) {
    for program in candidates {
        match Command::new(program).args(args).status() {
            Ok(status) if status.success() => return,
            Ok(status) => panic!("{program} failed ({status}) compiling the receiver's resources"),
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => panic!("could not run {program}: {e}"),
        }
    }
    panic!(
        "none of {candidates:?} was found to compile the Windows resources: install mingw-w64 \
         (Debian: gcc-mingw-w64-x86-64), use a Visual Studio developer prompt for MSVC, or set \
         WINDRES / RC"
    );
}
