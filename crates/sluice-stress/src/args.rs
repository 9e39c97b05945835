//! Command-line arguments. Every bad value is an error that names the argument, the
//! value and what is allowed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How to call the harness.
pub const USAGE: &str =
    "usage: sluice-stress [--tasks N] [--seconds S] [--seed X] [--wave N] [--hang S] [--smoke]";

/// One run's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// Stop submitting once this many tasks were submitted (nested ones included).
    pub tasks: u64,
    /// Or once this long has passed, whichever comes first.
    pub seconds: Option<f64>,
    /// The seed of the plan.
    pub seed: u64,
    /// Top-level tasks per wave: the harness checks and frees its books wave by wave,
    /// so this bounds the harness's own memory.
    pub wave: usize,
    /// The watchdog fires when no task was answered for this long.
    pub hang: Duration,
}

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut smoke = false;
        let mut tasks = None;
        let mut seconds = None;
        let mut seed = None;
        let mut wave = None;
        let mut hang = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
            };
            match arg.as_str() {
                "--smoke" => smoke = true,
                "--tasks" => tasks = Some(number("--tasks", &value("--tasks")?, 1)?),
                "--seconds" => seconds = Some(positive("--seconds", &value("--seconds")?)?),
                "--seed" => seed = Some(seed_value(&value("--seed")?)?),
                "--wave" => wave = Some(number("--wave", &value("--wave")?, 10)?),
                "--hang" => hang = Some(positive("--hang", &value("--hang")?)?),
                other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            }
        }
        let (default_tasks, default_wave) = if smoke {
            (150_000, 3_000)
        } else {
            (1_000_000, 10_000)
        };
        Ok(Args {
            tasks: tasks.unwrap_or(default_tasks),
            seconds: seconds.or(smoke.then_some(90.0)),
            seed: seed.unwrap_or_else(random_seed),
            wave: usize::try_from(wave.unwrap_or(default_wave)).unwrap_or(usize::MAX),
            hang: Duration::from_secs_f64(hang.unwrap_or(120.0)),
        })
    }
}

fn number(name: &str, text: &str, min: u64) -> Result<u64, String> {
    let parsed: u64 = text
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{name} = {text:?}: must be a whole number"))?;
    if parsed < min {
        return Err(format!("{name} = {parsed}: must be at least {min}"));
    }
    Ok(parsed)
}

fn positive(name: &str, text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
        _ => Err(format!(
            "{name} = {text:?}: must be a number of seconds above 0"
        )),
    }
}

/// A seed in decimal or `0x` hexadecimal, as the harness prints it.
fn seed_value(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("--seed = {text:?}: must be a 64-bit number (decimal or 0x hex)"))
}

fn random_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

#[cfg(test)]
mod tests {
    use super::Args;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::parse(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn defaults_and_smoke() -> Result<(), String> {
        let full = parse(&["--seed", "7"])?;
        assert_eq!(
            (full.tasks, full.seconds, full.seed, full.wave),
            (1_000_000, None, 7, 10_000)
        );
        let smoke = parse(&["--smoke", "--seed", "0x10"])?;
        assert_eq!(
            (smoke.tasks, smoke.seconds, smoke.seed),
            (150_000, Some(90.0), 16)
        );
        let mixed = parse(&["--smoke", "--tasks", "1_000", "--seconds", "2.5"])?;
        assert_eq!((mixed.tasks, mixed.seconds), (1_000, Some(2.5)));
        Ok(())
    }

    #[test]
    fn bad_values_are_named() {
        let error = |args: &[&str]| parse(args).err().unwrap_or_default();
        assert_eq!(error(&["--tasks", "0"]), "--tasks = 0: must be at least 1");
        assert_eq!(
            error(&["--tasks", "ten"]),
            "--tasks = \"ten\": must be a whole number"
        );
        assert_eq!(
            error(&["--seconds", "-1"]),
            "--seconds = \"-1\": must be a number of seconds above 0"
        );
        assert!(error(&["--seed", "0xzz"]).starts_with("--seed = \"0xzz\""));
        assert!(error(&["--wave", "5"]).starts_with("--wave = 5: must be at least 10"));
        assert!(error(&["--tasks"]).starts_with("--tasks needs a value"));
        assert!(error(&["--fast"]).starts_with("unknown argument \"--fast\""));
    }
}
