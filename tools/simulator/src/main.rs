//! `venue-simulator [--listen 127.0.0.1:8900] [--seed 42] [--tick-ms 100] ...`:
//! parses the flags and serves (see `venue_simulator::config::USAGE`).

use venue_simulator::SimConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = match SimConfig::from_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("{message}");
            // `--help` asked for the usage; anything else is a bad command line.
            std::process::exit(if message == venue_simulator::config::USAGE {
                0
            } else {
                2
            });
        }
    };
    // Every `/v2` exchange as a JSON line, for tools/check_alpaca.py.
    config.recording = std::env::var_os("SIM_RECORDING")
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from);
    venue_simulator::run(config).await
}
