//! `dladm`: the overlay subcommands (and on Linux the link and VNIC ones).
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut b = dladm_overlay::fake::FakeBackend::new();
    let rows = dladm_overlay::ofmt::terminal_rows();
    let code = dladm_overlay::cli::run(
        &args,
        &mut b,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
        rows,
    );
    std::process::exit(code);
}
