//! The committed C header must be exactly what cbindgen generates from `src/lib.rs`.
//! Regenerate it with `make header` (runs this test with `TACTUS_BLESS=1`).

use std::path::Path;

#[test]
fn committed_header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen could not generate the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = dir.join("include/tactus.h");
    if std::env::var_os("TACTUS_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/tactus.h");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "rust/ffi/include/tactus.h is stale: run `make header` and commit it\n--- generated ---\n{}",
        String::from_utf8_lossy(&generated)
    );
}
