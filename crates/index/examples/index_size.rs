fn main() {
    let _ = mirrorcap_store::StoreOptions::default();
}
