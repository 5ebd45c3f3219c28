//! `chat-server`: parses the configuration and serves chat until SIGTERM or Ctrl-C; or, as
//! `chat-server healthcheck`, probes a running server; as `chat-server key`, prints the
//! server key's fingerprint.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use chat_server::config::{Cli, KeyCli};
use chat_server::server_key;
use clap::Parser;
use dgram_proto::session::{fingerprint, public_key_hex};

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("key") {
        return key(&KeyCli::parse_from(std::env::args().skip(1)));
    }
    let cli = Cli::parse();
    let settings = cli.settings();
    cli.common
        .run("chat server", cli.listen, |socket, shutdown| {
            chat_server::run(socket, shutdown, settings)
        })
}

/// `chat-server key`: the fingerprint (and with `--public` the public key) on stdout.
fn key(cli: &KeyCli) -> ExitCode {
    if cli.data_dir == ":memory:" {
        eprintln!("chat-server key: an in-memory server makes a new key every run (see its log)");
        return ExitCode::FAILURE;
    }
    match server_key::load_or_create(std::path::Path::new(&cli.data_dir)) {
        Ok((key, made)) => {
            if made {
                eprintln!("made a new server key in {}", cli.data_dir);
            }
            println!("{}", fingerprint(&key.public));
            if cli.public {
                println!("{}", public_key_hex(&key.public));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chat-server key: {e}");
            ExitCode::FAILURE
        }
    }
}
