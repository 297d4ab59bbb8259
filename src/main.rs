//! The `mirrorcap` command: parses the command line and maps every failure to one clear line
//! on stderr and an exit code (2: usage, configuration or environment; 1: failure at run time).
use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser};
use mirrorcap::cli::{Cli, Command, ExportArgs, GenArgs, RunArgs, TailArgs};
use mirrorcap::config::file::ConfigError;
use mirrorcap::run::RunError;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn main() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return usage_error(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    match cli.command {
        Command::CheckConfig(a) => {
            let Ok(Cli {
                command: Command::Run(mut args),
            }) = Cli::try_parse_from(["mirrorcap", "run"])
            else {
                unreachable!("`run` parses with its defaults")
            };
            args.config = Some(a.file.clone());
            match load_config(&mut args, &|_| false) {
                Ok(()) => {
                    print!("{}", mirrorcap::config::merge::effective_toml(&args));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("mirrorcap: error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Run(mut args) => {
            let sub = matches.subcommand_matches("run");
            let on_cli = |id: &str| {
                sub.and_then(|m| m.value_source(id)) == Some(clap::parser::ValueSource::CommandLine)
            };
            if let Err(e) = load_config(&mut args, &on_cli) {
                eprintln!("mirrorcap: error: {e}");
                return ExitCode::from(2);
            }
            match stop_on_signals() {
                Ok(stop) => exit_code(mirrorcap::run::run(&args, stop).map(|_| ())),
                Err(code) => code,
            }
        }
        Command::Export(a) => report(export(&a)),
        Command::Tail(a) => report(tail(&a)),
        Command::Gen(a) => {
            let sub = matches.subcommand_matches("gen");
            let on_cli = |id: &str| {
                sub.and_then(|m| m.value_source(id)) == Some(clap::parser::ValueSource::CommandLine)
            };
            if a.out.is_some() {
                return report(gen(&a, &on_cli));
            }
            match stop_on_signals() {
                Ok(stop) => exit_code(mirrorcap::gentx::gen_tx(&a, &stop).map(|_| ())),
                Err(code) => code,
            }
        }
    }
}

/// A flag SIGINT and SIGTERM set (a second one exits at once, code 130).
fn stop_on_signals() -> Result<Arc<AtomicBool>, ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop));
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("mirrorcap: error: cannot handle signal {sig}: {e}");
            return Err(ExitCode::from(2));
        }
    }
    Ok(stop)
}

/// One line and 2 for usage and environment errors, 1 for failures at run time.
fn exit_code(r: Result<(), RunError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(RunError::Usage(m)) | Err(RunError::Environment(m)) => {
            eprintln!("mirrorcap: error: {m}");
            ExitCode::from(2)
        }
        Err(RunError::Runtime(m)) => {
            eprintln!("mirrorcap: error: {m}");
            ExitCode::from(1)
        }
    }
}

fn load_config(args: &mut RunArgs, on_cli: &dyn Fn(&str) -> bool) -> Result<(), ConfigError> {
    let Some(path) = args.config.clone() else {
        return Ok(());
    };
    let loaded = mirrorcap::config::file::Loaded::read(&path)?;
    mirrorcap::config::merge::apply_run(&loaded, args, on_cli)?;
    args.sessions = mirrorcap::config::sessions::sessions(&loaded, &mirrorcap::run::check_filter)?;
    Ok(())
}

/// Command-line mistakes: one line (clap's first) and exit code 2; help and version print
/// as usual.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    let text = e.render().to_string();
    // clap's message is its first paragraph (a list of missing arguments follows on indented
    // lines): joined into one line.
    let para: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let msg = para.join(" ");
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
    eprintln!("mirrorcap: error: {msg} (see mirrorcap --help)");
    ExitCode::from(2)
}

fn report(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mirrorcap: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A closed output pipe (`export -w - | head`, `tail | tcpdump -c 3`) means the reader has
/// what it wanted: `None`, not an error.
fn reader_gone_is_ok<T>(r: Result<T, mirrorcap_ring::RingError>) -> anyhow::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(mirrorcap_ring::RingError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

fn create_out(path: &std::path::Path) -> anyhow::Result<Box<dyn Write>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::BufWriter::with_capacity(
            1 << 20,
            std::io::stdout().lock(),
        )));
    }
    let f =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(Box::new(std::io::BufWriter::with_capacity(1 << 20, f)))
}

fn export(a: &ExportArgs) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let time = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<u64>> {
        v.as_deref()
            .map(|s| {
                mirrorcap::config::parse_time(s, now).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
            })
            .transpose()
    };
    let filter = mirrorcap_ring::ExportFilter {
        from_ns: time("--from", &a.from)?,
        to_ns: time("--to", &a.to)?,
        sessions: mirrorcap_ring::SessionFilter {
            vnis: a.vnis.clone(),
        },
    };
    if let (Some(f), Some(t)) = (filter.from_ns, filter.to_ns) {
        anyhow::ensure!(f <= t, "--from is after --to: nothing to export");
    }
    let mut out = create_out(&a.out)?;
    let format: mirrorcap_ring::Format = a.format.parse().map_err(anyhow::Error::msg)?;
    let names = |slot: u8| {
        mirrorcap_ring::session_names::SessionNames::read(&a.ring_dir)
            .name(slot)
            .map(str::to_string)
    };
    let mut sink = mirrorcap_ring::Sink::new(format).with_names(&names);
    let Some(s) = reader_gone_is_ok(mirrorcap_ring::export(
        &a.ring_dir,
        &mut out,
        &filter,
        &mut sink,
    ))?
    else {
        return Ok(());
    };
    eprintln!(
        "mirrorcap: exported {} packets ({} bytes) from {} worker(s), {} segment(s) read{}{}{}{}",
        s.packets,
        s.bytes,
        s.workers,
        s.read.segments,
        if format == mirrorcap_ring::Format::Pcapng {
            format!(", {} session interface(s)", s.interfaces)
        } else {
            String::new()
        },
        if s.segments_skipped > 0 {
            format!(", {} skipped by time index", s.segments_skipped)
        } else {
            String::new()
        },
        if s.read.raced > 0 {
            format!(
                ", {} segment(s) skipped: overwritten while reading",
                s.read.raced
            )
        } else {
            String::new()
        },
        if s.read.torn_bytes > 0 {
            format!(", {} torn tail bytes ignored", s.read.torn_bytes)
        } else {
            String::new()
        },
    );
    Ok(())
}

fn tail(a: &TailArgs) -> anyhow::Result<()> {
    use mirrorcap_ring::tail::{tail_pcap, TailOptions};
    let window = mirrorcap::config::parse_duration(&a.window)
        .map_err(|m| anyhow::anyhow!("--window {m}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop));
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .with_context(|| format!("cannot handle signal {sig}"))?;
    }
    let opts = TailOptions {
        sessions: mirrorcap_ring::SessionFilter {
            vnis: a.vnis.clone(),
        },
        format: a.format.parse().map_err(anyhow::Error::msg)?,
        from_start: a.from_start,
        window,
        ..TailOptions::default()
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut warn = |m: String| eprintln!("mirrorcap: warning: {m}");
    let Some(s) = reader_gone_is_ok(tail_pcap(&a.ring_dir, &opts, &mut out, &stop, &mut warn))?
    else {
        return Ok(());
    };
    eprintln!(
        "mirrorcap: tail streamed {} packets ({} bytes) from {} worker(s), {} segment(s) followed, {} skipped",
        s.packets, s.bytes, s.workers, s.segments, s.skipped_segments
    );
    Ok(())
}

/// `gen -w`: the pcap writer (no DPDK).
fn gen(a: &GenArgs, on_cli: &dyn Fn(&str) -> bool) -> anyhow::Result<()> {
    let out = a.out.clone().unwrap_or_default();
    if !a.vdevs.is_empty() || !a.devices.is_empty() {
        anyhow::bail!("give -w OUT or --vdev/--device, not both (to write a capture through DPDK: --vdev net_pcap0,tx_pcap=FILE)");
    }
    if let Some((_, flag)) = mirrorcap::gentx::plan::DPDK_ONLY
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
