//! JSON for machines: one file per run (the [`RunResult`] as is) and the suite report (every
//! run plus the SLO evaluation per server label), and loading runs back for `report`.

use std::path::Path;

use serde::Serialize;

use super::slo::SloReport;
use crate::model::RunResult;

/// The suite document.
#[derive(Serialize)]
pub struct Suite<'a> {
    /// Generated at (UTC).
    pub generated_utc: String,
    /// Machine description.
    pub machine: String,
    /// SLO evaluation per label.
    pub slo: Vec<(String, SloReport)>,
    /// Template verdict per label.
    pub verdict: Vec<(String, String)>,
    /// Every run.
    pub runs: &'a [RunResult],
}

/// Pretty JSON of any serialisable value.
pub fn to_string<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Parses one run.
pub fn parse_run(text: &str) -> Result<RunResult, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Loads runs from files and directories (every `*.json` that parses as a run; others are
/// skipped), sorted by name then label.
pub fn load(paths: &[impl AsRef<Path>]) -> Result<Vec<RunResult>, String> {
    let mut out = Vec::new();
    for p in paths {
        let p = p.as_ref();
        if p.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json"))
                .collect();
            files.sort();
            for f in files {
                if let Ok(r) = std::fs::read_to_string(&f)
                    .map_err(|e| e.to_string())
                    .and_then(|t| parse_run(&t))
                {
                    out.push(r);
                }
            }
        } else {
            let t = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            out.push(parse_run(&t).map_err(|e| format!("{}: {e}", p.display()))?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_roundtrips() {
        let r = RunResult {
            scenario: "relay".into(),
            name: "relay4".into(),
            label: "x".into(),
            ..RunResult::default()
        };
        let back = parse_run(&to_string(&r)).unwrap();
        assert_eq!(back.name, "relay4");
        assert!(parse_run("{not json").is_err());
    }
}
