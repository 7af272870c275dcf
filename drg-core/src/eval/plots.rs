//! Plots written next to the other outputs, as SVG (plotters' SVG backend needs no system fonts):
//!
//! * `<prefix>_loss.svg`: the training and validation losses of every `_loss.txt` line. The x axis
//!   is the line number, not the epoch number, because fine-tuning repeats epoch numbers;
//! * `<prefix>_scatter_<output>.svg`: predicted against measured values of every test gene and
//!   track of one output, with the diagonal.
//!
//! Each file is rendered in memory and written atomically.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use super::atomic_file::write_bytes_atomically;
use super::report_files::EpochLine;

const SIZE: (u32, u32) = (800, 600);

/// The finite range of `values`, widened a little (and to a unit interval when empty or flat).
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 };
    (lo - pad, hi + pad)
}

/// Renders with `draw` into an SVG string and writes it to `path`.
pub(crate) fn write_svg(
    path: &Path,
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        draw(&root)?;
        root.present().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    write_bytes_atomically(path, svg.as_bytes()).with_context(|| format!("{}: writing the plot", path.display()))
}

/// Loss curves: training loss on the training set and validation loss on the validation set.
pub fn plot_loss_curves(path: &Path, lines: &[EpochLine]) -> anyhow::Result<()> {
    let train: Vec<(f64, f64)> = lines.iter().enumerate().map(|(i, l)| (i as f64, l.train)).filter(|p| p.1.is_finite()).collect();
    let val: Vec<(f64, f64)> = lines.iter().enumerate().map(|(i, l)| (i as f64, l.val)).filter(|p| p.1.is_finite()).collect();
    let (y0, y1) = range(train.iter().chain(&val).map(|p| p.1));
    let x1 = lines.len().saturating_sub(1).max(1) as f64;
    write_svg(path, |root| {
        let e = |e: plotters::drawing::DrawingAreaErrorKind<_>| anyhow::anyhow!("{e:?}");
        let mut chart = ChartBuilder::on(root)
            .caption("loss", ("sans-serif", 24))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x1, y0..y1)
            .map_err(e)?;
        chart.configure_mesh().x_desc("line of _loss.txt (epoch 0 first)").y_desc("loss").draw().map_err(e)?;
        chart
            .draw_series(LineSeries::new(train, &BLUE))
            .map_err(e)?
            .label("train (training set)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        chart
            .draw_series(LineSeries::new(val, &RED))
            .map_err(e)?
            .label("validation (validation set)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(e)?;
        Ok(())
    })
}

/// Predicted against measured values of one output (all genes and tracks), with the diagonal.
pub fn plot_scatter(path: &Path, title: &str, measured: &[f64], predicted: &[f32]) -> anyhow::Result<()> {
    anyhow::ensure!(
        measured.len() == predicted.len(),
        "{}: {} measured values for {} predictions",
        path.display(),
        measured.len(),
        predicted.len()
    );
    let points: Vec<(f64, f64)> =
        measured.iter().zip(predicted).map(|(&m, &p)| (m, p as f64)).filter(|(m, p)| m.is_finite() && p.is_finite()).collect();
    let (x0, x1) = range(points.iter().map(|p| p.0));
    let (y0, y1) = range(points.iter().map(|p| p.1));
    write_svg(path, |root| {
        let e = |e: plotters::drawing::DrawingAreaErrorKind<_>| anyhow::anyhow!("{e:?}");
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 24))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(e)?;
        chart.configure_mesh().x_desc("measured").y_desc("predicted").draw().map_err(e)?;
        let (d0, d1) = (x0.max(y0), x1.min(y1));
        if d0 < d1 {
            chart.draw_series(LineSeries::new([(d0, d0), (d1, d1)], BLACK.mix(0.5))).map_err(e)?;
        }
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 2, BLUE.mix(0.5).filled()))).map_err(e)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts elements of `tag` in a well-formed SVG document (checked by a tiny XML tokenizer:
    /// every tag closes, in order).
    fn check_svg(text: &str, tag: &str) -> usize {
        assert!(text.trim_start().starts_with("<svg") && text.trim_end().ends_with("</svg>"), "not an svg document");
        let mut stack: Vec<String> = Vec::new();
        let mut count = 0;
        let mut rest = text;
        while let Some(i) = rest.find('<') {
            let j = rest[i..].find('>').expect("unterminated tag") + i;
            let inner = &rest[i + 1..j];
            if let Some(name) = inner.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name.trim()), "mismatched </{name}>");
            } else if !inner.starts_with('?') && !inner.starts_with('!') {
                let name = inner.split(|c: char| c.is_whitespace() || c == '/').next().unwrap().to_string();
                if name == tag {
                    count += 1;
                }
                if !inner.ends_with('/') {
                    stack.push(name);
                }
            }
            rest = &rest[j + 1..];
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
        count
    }

    #[test]
    fn loss_plot_is_a_valid_svg_with_both_curves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run_loss.svg");
        let lines: Vec<EpochLine> = (0..6)
            .map(|e| EpochLine {
                epoch: e.min(3),
                orig_val: 1.0,
                val: 1.0 / (e as f64 + 1.0),
                train: 2.0 / (e as f64 + 1.0),
                train_val: f64::NAN,
            })
            .collect();
        plot_loss_curves(&path, &lines).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        // Two curves and two legend lines.
        assert!(check_svg(&text, "polyline") >= 4, "{text}");
        assert!(text.contains("validation (validation set)"));
        // No lines, or only NaN losses, still give a valid (empty) plot.
        plot_loss_curves(&path, &[]).unwrap();
        check_svg(&std::fs::read_to_string(&path).unwrap(), "polyline");
    }

    #[test]
    fn scatter_has_one_circle_per_finite_point() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run_scatter_ex.svg");
        let measured = [0.0, 1.0, 2.0, f64::NAN, 4.0];
        let predicted = [0.1f32, 0.9, 2.5, 1.0, f32::INFINITY];
        plot_scatter(&path, "ex", &measured, &predicted).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(check_svg(&text, "circle"), 3);
        let err = plot_scatter(&path, "ex", &measured[..2], &predicted).unwrap_err();
        assert!(format!("{err:#}").contains("2 measured values for 5 predictions"), "{err:#}");
    }
}
