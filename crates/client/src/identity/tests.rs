//! The identity file: made once per home and kept private, refused when shared or damaged, the
//! same whatever server is used, exported and installed elsewhere intact.

use super::*;
use crate::keys::write_private;

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("dgram-identity-")
        .tempdir()
        .expect("a temporary directory")
}

#[test]
fn one_identity_per_home_made_once_and_kept_private() {
    let scratch = scratch();
    let home = scratch.path().join("dgram");
    let file = IdentityFile::new(&home);
    assert!(file.load().expect("no file is no identity").is_none());
    let made = file.load_or_create().expect("made");
    assert_eq!(file.load_or_create().expect("read back"), made, "made once");
    assert_eq!(
        IdentityFile::new(&home).load().expect("load"),
        Some(made.clone())
    );
    assert_eq!(Keypair::from_private(made.private), made);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(file.path()), 0o600);
        assert_eq!(mode(&home), 0o700);
    }
    // Another home is another client.
    let other = IdentityFile::new(&scratch.path().join("other"));
    assert_ne!(other.load_or_create().expect("made").public, made.public);
}

#[cfg(unix)]
#[test]
fn a_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = scratch();
    let file = IdentityFile::new(scratch.path());
    file.load_or_create().expect("made");
    fs::set_permissions(file.path(), fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = file.load().expect_err("shared");
    assert!(
        err.to_string().contains("chmod 600"),
        "says how to fix it: {err}"
    );
    assert!(file.load_or_create().is_err(), "not replaced either");
}

#[test]
fn a_damaged_file_is_an_error_not_a_new_identity() {
    let scratch = scratch();
    let file = IdentityFile::new(scratch.path());
    let pair = file.load_or_create().expect("made");
    let mut text = export(&pair);
    // One digit of the key changed: the check digits catch it.
    let at = ARMOR.len() + 5;
    let flipped = if &text[at..=at] == "0" { "1" } else { "0" };
    text.replace_range(at..=at, flipped);
    write_private(file.path(), text.as_bytes()).expect("damage");
    let err = file.load().expect_err("damaged").to_string();
    assert!(err.contains("copied wrongly"), "{err}");
    assert!(file.load_or_create().is_err(), "never silently replaced");
    for bad in [
        "",
        "hello",
        "dgram-identity-v9:00:00",
        "dgram-identity-v1:zz:00",
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn an_exported_identity_installs_on_another_home_and_never_overwrites_without_force() {
    let scratch = scratch();
    let laptop = IdentityFile::new(&scratch.path().join("laptop"));
    let pair = laptop.load_or_create().expect("made");
    let armored = export(&pair);
    assert!(armored.starts_with("dgram-identity-v1:"), "{armored}");
    let phone = IdentityFile::new(&scratch.path().join("phone"));
    let own = phone.load_or_create().expect("the phone's own");
    let imported = parse(&format!("  {armored}\n")).expect("parses");
    assert_eq!(imported, pair);
    let err = phone.install(&imported, false).expect_err("exists");
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(phone.load().expect("load"), Some(own), "left as it was");
    phone.install(&imported, true).expect("forced");
    assert_eq!(phone.load().expect("load"), Some(pair.clone()));
    // Into a fresh home, no force is needed; exported to a file, it reads back the same.
    let fresh = IdentityFile::new(&scratch.path().join("fresh"));
    fresh.install(&pair, false).expect("installed");
    let out = scratch.path().join("exported.key");
    export_to(&pair, &out).expect("exported");
    assert!(export_to(&pair, &out).is_err(), "an existing file is kept");
    let back = parse(&fs::read_to_string(&out).expect("read")).expect("parses");
    assert_eq!(back, pair);
}

#[test]
fn an_export_never_overwrites_a_file() {
    let scratch = scratch();
    let file = IdentityFile::new(&scratch.path().join("dgram"));
    let pair = file.load_or_create().expect("made");
    let out = scratch.path().join("identity.txt");
    fs::write(&out, "keep me\n").expect("an existing file");
    let refused = export_to(&pair, &out);
    assert!(
        matches!(refused, Err(Error::WriteKey { ref path, .. }) if *path == out),
        "{refused:?}"
    );
    assert_eq!(fs::read_to_string(&out).expect("read"), "keep me\n");
    let fresh = scratch.path().join("fresh.txt");
    export_to(&pair, &fresh).expect("a new file is written");
    let line = fs::read_to_string(&fresh).expect("read");
    assert_eq!(line.trim_end(), export(&pair));
}
