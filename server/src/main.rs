//! The `sotto-server` binary.

fn main() {
    eprintln!("sotto-server: not built yet (see the open issues)");
    std::process::exit(1);
}
