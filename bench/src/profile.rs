//! Flame graphs for `bench/run --profile CASE`: `perf script` text in, an SVG out, through
//! inferno (the FlameGraph tools as a library).

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use anyhow::{bail, Context};
use inferno::collapse::perf::{Folder, Options as CollapseOptions};
use inferno::collapse::Collapse;
use inferno::flamegraph::{self, Options};

/// Writes the flame graph of `perf_script` to `svg`; returns how many distinct stacks it has.
pub fn flamegraph(perf_script: &Path, svg: &Path, title: &str) -> anyhow::Result<usize> {
    let input = File::open(perf_script).with_context(|| format!("{}", perf_script.display()))?;
    let mut folded = Vec::new();
    Folder::from(CollapseOptions::default())
        .collapse(BufReader::new(input), &mut folded)
        .with_context(|| format!("cannot read the stacks in {}", perf_script.display()))?;
    let stacks = folded
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    if stacks == 0 {
        bail!(
            "{} holds no stacks: was the process busy while perf recorded it?",
            perf_script.display()
        );
    }
    let mut options = Options::default();
    options.title = title.to_string();
    let output = File::create(svg).with_context(|| format!("{}", svg.display()))?;
    flamegraph::from_reader(&mut options, &folded[..], BufWriter::new(output))
        .with_context(|| format!("cannot write {}", svg.display()))?;
    Ok(stacks)
}
