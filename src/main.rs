use clap::Parser;
use rogue_hunter::cli::{Cli, run};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if let Err(e) = run(cli) {
        if !e.message.is_empty() {
            eprintln!("rogue-hunter: {}", e.message);
        }
        std::process::exit(e.code);
    }
}
