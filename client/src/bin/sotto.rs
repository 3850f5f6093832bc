//! `sotto`: the native participant on the command line (coming with the
//! MLS session in sotto-crypto).

fn main() {
    eprintln!("sotto: not built yet");
    std::process::exit(1);
}
