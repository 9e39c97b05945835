//! `cargo xtask stress`: builds the stress harness (`crates/sluice-stress`) in release
//! and runs it, once or over several seeds.
//!
//! Every argument but `--seeds N` goes to the harness (`--tasks`, `--seconds`, `--seed`,
//! `--wave`, `--hang`, `--smoke`). With `--seeds N` it runs N times: seeds `X`, `X+1`,
//! … when `--seed X` is given, random ones otherwise; it stops at the first failure,
//! whose seed the harness has printed.

use crate::run::release_binary;
use std::process::Command;
use std::time::Instant;

/// Runs the harness as asked.
pub fn run(args: &[String]) -> Result<(), String> {
    let (seeds, mut rest) = take_seeds(args)?;
    let first_seed = seed_of(&rest)?;
    let harness = release_binary("sluice-stress", "sluice-stress")?;
    let began = Instant::now();
    for run in 0..seeds {
        if let (Some(seed), true) = (first_seed, seeds > 1) {
            set_seed(&mut rest, seed.wrapping_add(run));
        }
        let status = Command::new(&harness)
            .args(&rest)
            .status()
            .map_err(|e| format!("{}: {e}", harness.display()))?;
        if !status.success() {
            return Err(format!(
                "the stress run {} of {seeds} failed ({status}); its seed is printed above",
                run + 1
            ));
        }
    }
    eprintln!(
        "xtask: {seeds} stress run(s) passed in {:.1}s",
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Splits `--seeds N` off the harness's arguments.
fn take_seeds(args: &[String]) -> Result<(u64, Vec<String>), String> {
    let mut seeds = 1;
    let mut rest = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--seeds" {
            let value = args.next().ok_or("--seeds needs a value")?;
            seeds = value
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    format!("--seeds = {value:?}: must be a whole number of at least 1")
                })?;
        } else {
            rest.push(arg.clone());
        }
    }
    Ok((seeds, rest))
}

/// The value of `--seed`, decimal or `0x` hexadecimal, if given.
fn seed_of(args: &[String]) -> Result<Option<u64>, String> {
    let Some(at) = args.iter().position(|a| a == "--seed") else {
        return Ok(None);
    };
    let text = args.get(at + 1).ok_or("--seed needs a value")?;
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed
        .map(Some)
        .map_err(|_| format!("--seed = {text:?}: must be a 64-bit number (decimal or 0x hex)"))
}

fn set_seed(args: &mut Vec<String>, seed: u64) {
    let value = format!("{seed:#x}");
    match args.iter().position(|a| a == "--seed") {
        Some(at) if at + 1 < args.len() => args[at + 1] = value,
        _ => args.extend(["--seed".to_owned(), value]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn seeds_are_taken_out_and_the_rest_passed_on() -> Result<(), String> {
        let (seeds, rest) = take_seeds(&strings(&[
            "--tasks", "10", "--seeds", "20", "--seed", "0x10",
        ]))?;
        assert_eq!(seeds, 20);
        assert_eq!(rest, strings(&["--tasks", "10", "--seed", "0x10"]));
        assert_eq!(seed_of(&rest)?, Some(16));
        let mut rest = rest;
        set_seed(&mut rest, 17);
        assert_eq!(rest, strings(&["--tasks", "10", "--seed", "0x11"]));
        assert!(take_seeds(&strings(&["--seeds", "0"])).is_err());
        assert!(seed_of(&strings(&["--seed", "x"])).is_err());
        Ok(())
    }
}
