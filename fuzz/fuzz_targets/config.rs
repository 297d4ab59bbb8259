//! Fuzzes the configuration file: any text must parse or be refused with a located error (no
//! panic), and a file that validates prints an effective configuration that validates again
//! to the same text (the `check-config` fixed point).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mirrorcap::cli::{merge, RunArgs};
use mirrorcap::config::{file::Loaded, sessions};
use std::path::Path;

fn effective(text: &str) -> Option<String> {
    let l = Loaded::parse(Path::new("f.toml"), text.to_string()).ok()?;
    let mut args = RunArgs::default();
    merge::apply_run(&l, &mut args, &|_| false).ok()?;
    // Filters are checked by libpcap in the real program; any expression passes here.
    args.sessions = sessions::sessions(&l, &|_, _| Ok(())).ok()?;
    Some(merge::effective_toml(&args))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = Loaded::parse(Path::new("f.toml"), text.to_string()) {
        assert!(e.line >= 1, "a parse error has a line: {e}");
    }
    if let Some(out) = effective(&text) {
        let again = effective(&out).unwrap_or_else(|| panic!("printed config does not load:\n{out}"));
        assert_eq!(again, out, "check-config output is a fixed point");
    }
});
