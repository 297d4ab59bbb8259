//! The `mirrorcap` command: parses the command line and maps every failure to one clear line
//! on stderr and an exit code (2: usage, configuration or environment; 1: failure at run time).
use clap::{CommandFactory, FromArgMatches};
#[cfg(feature = "dpdk")]
use mirrorcap::app::startup::{self, AppError};
use mirrorcap::cli::{Cli, Command, RunArgs};
use mirrorcap::config::file::ConfigError;
use std::process::ExitCode;

mod cmd;

fn main() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return usage_error(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    // Whether a flag of subcommand `sub` was given on the command line (not a default), so
    // the configuration file's value yields to it.
    let on_cli = |sub: &str, id: &str| {
        matches
            .subcommand_matches(sub)
            .and_then(|m| m.value_source(id))
            == Some(clap::parser::ValueSource::CommandLine)
    };
    match cli.command {
        Command::CheckConfig(a) => {
            let mut args = RunArgs {
                config: Some(a.file.clone()),
                ..RunArgs::default()
            };
            match load_config(&mut args, &|_| false) {
                Ok(()) => {
                    print!("{}", mirrorcap::cli::merge::effective_toml(&args));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("mirrorcap: error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        #[cfg(not(feature = "dpdk"))]
        Command::Run(_) => no_dpdk("run"),
        #[cfg(feature = "dpdk")]
        Command::Run(mut args) => {
            if let Err(e) = load_config(&mut args, &|id| on_cli("run", id)) {
                eprintln!("mirrorcap: error: {e}");
                return ExitCode::from(2);
            }
            let run = || {
                let cfg = args.to_config().map_err(AppError::Usage)?;
                let stop = startup::stop_on_signals()?;
                mirrorcap::app::run(&cfg, stop).map(|_| ())
            };
            AppError::exit(run())
        }
        Command::Export(a) => report(cmd::export::export(&a)),
        Command::Query(q) => {
            let (a, expr) = q.split();
            report(cmd::query::query(&a, &expr))
        }
        Command::Flows(a) => report(cmd::flows::flows(&a)),
        Command::Tail(a) => report(cmd::tail::tail(&a)),
        Command::Gen(a) => {
            if a.out.is_some() {
                return report(cmd::gen_file::gen_file(&a, &|id| on_cli("gen", id)));
            }
            #[cfg(feature = "dpdk")]
            {
                let gen = || {
                    let stop = startup::stop_on_signals()?;
                    mirrorcap::gentx::gen_tx(&a, &stop).map(|_| ())
                };
                AppError::exit(gen())
            }
            #[cfg(not(feature = "dpdk"))]
            no_dpdk("gen --vdev/--device")
        }
    }
}

/// The reading build (`--no-default-features`) has no DPDK: one line, exit 2.
#[cfg(not(feature = "dpdk"))]
fn no_dpdk(what: &str) -> ExitCode {
    eprintln!("mirrorcap: error: {what} needs DPDK, and this mirrorcap was built without it (--no-default-features: export, query, flows, tail, check-config and gen -w only)");
    ExitCode::from(2)
}

fn load_config(args: &mut RunArgs, on_cli: &dyn Fn(&str) -> bool) -> Result<(), ConfigError> {
    let Some(path) = args.config.clone() else {
        return Ok(());
    };
    let loaded = mirrorcap::config::file::Loaded::read(&path)?;
    mirrorcap::cli::merge::apply_run(&loaded, args, on_cli)?;
    mirrorcap::cli::archive::apply_archive(&loaded, &mut args.archive, on_cli)?;
    args.sessions =
        mirrorcap::config::sessions::sessions(&loaded, &mirrorcap::config::sessions::check_filter)?;
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
