fn main() {
    let url: mirrorcap_archive::ArchiveUrl = std::env::args().nth(1).unwrap().parse().unwrap();
    let s = mirrorcap_archive::Settings::default();
    let a = mirrorcap_archive::connect(&url, &s).unwrap();
    match mirrorcap_archive::check(&a, std::time::Duration::from_secs(5)) {
        Ok(()) => println!("ok"),
        Err((c, m)) => println!("{c}: {m}"),
    }
}
