//! `mirrorcap gen -w`: synthetic mirrored traffic written to a pcap file, no DPDK.
use super::output::create_out;
use anyhow::Context;

/// `gen -w`: the pcap writer (no DPDK).
pub fn gen_file(a: &mirrorcap::cli::GenArgs, on_cli: &dyn Fn(&str) -> bool) -> anyhow::Result<()> {
    let out = a.out.clone().unwrap_or_default();
    if !a.vdevs.is_empty() || !a.devices.is_empty() {
        anyhow::bail!("give -w OUT or --vdev/--device, not both (to write a capture through DPDK: --vdev net_pcap0,tx_pcap=FILE)");
    }
    if let Some((_, flag)) = mirrorcap::cli::GEN_DPDK_ONLY
        .iter()
        .find(|(id, _)| on_cli(id))
    {
        anyhow::bail!("{flag} applies when transmitting (--vdev/--device); with -w use --vdev net_pcap0,tx_pcap=FILE instead");
    }
    if a.inner_size.trim().eq_ignore_ascii_case("imix") {
        anyhow::bail!("--inner-size imix applies when transmitting; with -w use --vdev net_pcap0,tx_pcap=FILE instead");
    }
    let (inner_min, inner_max) =
        mirrorcap::gen::parse_inner_size(&a.inner_size).map_err(anyhow::Error::msg)?;
    if let Some(v) = a.vnis.iter().find(|&&v| v > 0x00ff_ffff) {
        anyhow::bail!("--vni {v}: a VNI has 24 bits (0 to 16777215)");
    }
    let spec = mirrorcap::gen::GenSpec {
        count: a.count.unwrap_or(1000),
        vnis: a.vnis.clone(),
        inner_min,
        inner_max,
        noise_every: a.noise_every,
        seed: a.seed,
        encap: mirrorcap::gen::Encap::parse(&a.encap).map_err(anyhow::Error::msg)?,
        outer_vlans: a.outer_vlans,
        inner_vlan: a.inner_vlan,
        truncate: a.truncate.map(|t| t as usize),
        flows: a.flows.into(),
    };
    let mut out = create_out(&out)?;
    let r = mirrorcap::gen::write_pcap(&spec, &mut out)
        .with_context(|| format!("writing {}", out_name(&a.out)))?;
    eprintln!(
        "mirrorcap: wrote {} mirrored + {} noise frames ({} bytes) to {}",
        r.mirrored,
        r.noise,
        r.bytes,
        out_name(&a.out)
    );
    Ok(())
}

fn out_name(p: &Option<std::path::PathBuf>) -> String {
    p.as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}
