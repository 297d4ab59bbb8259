//! Turns the DPDK version that dpdk-sys found into cfg flags (`dpdk_ge_2411`) and build info
//! (`MIRRORCAP_DPDK_VERSION`) for `mirrorcap_build_info`.
fn main() {
    println!("cargo:rustc-check-cfg=cfg(dpdk_ge_2411)");
    let version = std::env::var("DEP_DPDK_VERSION").unwrap_or_else(|_| "unknown".into());
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) >= (24, 11) {
        println!("cargo:rustc-cfg=dpdk_ge_2411");
    }
    println!("cargo:rustc-env=MIRRORCAP_DPDK_VERSION={version}");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rv = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=MIRRORCAP_RUSTC_VERSION={rv}");
    println!("cargo:rerun-if-changed=build.rs");
}
