//! Generates the Rust code of the protocol definitions: messages, servers and clients.
//!
//! `protoc` is `$PROTOC` when set (e.g. a system protoc), otherwise the one shipped by
//! `protoc-bin-vendored`, so building needs no system package.

const PROTOS: &[&str] = &[
    "mrledger/headset/v1/headset.proto",
    "mrledger/audit/v1/audit.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-env-changed=PROTOC");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let mut config = tonic_prost_build::Config::new();
    match std::env::var_os("PROTOC") {
        Some(protoc) => config.protoc_executable(protoc),
        None => config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?),
    };
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_with_config(config, PROTOS, &["."])?;
    Ok(())
}
