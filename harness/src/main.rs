//! The `poolstorm` binary.

fn main() {
    eprintln!("poolstorm: not built yet");
    std::process::exit(2);
}
