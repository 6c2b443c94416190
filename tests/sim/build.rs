fn main() {
    // Debian's libsimavr-dev: pkg-config name `simavr` (-I/usr/include/simavr -lsimavr).
    let lib = pkg_config::Config::new()
        .atleast_version("1.6")
        .probe("simavr")
        .expect("simavr not found: `make test-firmware` installs libsimavr-dev, libelf-dev, pkg-config");
    let mut build = cc::Build::new();
    build.file("csrc/shim.c").flag_if_supported("-std=gnu99").warnings(true);
    for p in &lib.include_paths {
        build.include(p);
    }
    build.compile("simshim");
    println!("cargo:rerun-if-changed=csrc/shim.c");
}
