//! `summary.svg`: the summary table as a plot. One column of marks per class; per model a filled
//! circle at the seeds' mean with a bar of ± one sd, and a triangle at the ensemble; a black dash
//! at the average-profile baseline.

use std::path::Path;

use plotters::prelude::*;

use super::table::TableRow;
use crate::eval::plots::write_svg;

const COLORS: [RGBColor; 6] = [BLUE, RED, GREEN, MAGENTA, CYAN, RGBColor(255, 140, 0)];

/// Writes the plot of `rows` to `path`.
pub fn plot_summary(path: &Path, rows: &[TableRow]) -> anyhow::Result<()> {
    let mut classes: Vec<&str> = Vec::new();
    let mut models: Vec<&str> = Vec::new();
    for r in rows {
        if !classes.contains(&r.class.as_str()) {
            classes.push(&r.class);
        }
        if !models.contains(&r.model.as_str()) {
            models.push(&r.model);
        }
    }
    let values = rows.iter().flat_map(|r| {
        let (m, sd) = (r.mean(), if r.sd().is_nan() { 0.0 } else { r.sd() });
        [m - sd, m + sd, r.baseline, r.ensemble.unwrap_or(m)]
    });
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo <= hi { (lo - 0.05, hi + 0.05) } else { (0.0, 1.0) };
    let n_classes = classes.len().max(1);
    let width = 0.7 / models.len().max(1) as f64;
    let x_of = |class: &str, model: &str| -> f64 {
        let c = classes.iter().position(|&x| x == class).unwrap_or(0) as f64;
        let m = models.iter().position(|&x| x == model).unwrap_or(0) as f64;
        c - 0.35 + width * (m + 0.5)
    };
    write_svg(path, |root| {
        let e = |e: plotters::drawing::DrawingAreaErrorKind<_>| anyhow::anyhow!("{e:?}");
        let mut chart = ChartBuilder::on(root)
            .caption("cross-validated per-gene r (joined folds)", ("sans-serif", 22))
            .margin(10)
            .x_label_area_size(60)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..(n_classes as f64 - 0.5), lo..hi)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_labels(n_classes)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    classes.get(i as usize).map_or(String::new(), |c| c.to_string())
                } else {
                    String::new()
                }
            })
            .disable_x_mesh()
            .x_desc("class")
            .y_desc("mean per-gene Pearson r")
            .draw()
            .map_err(e)?;
        // The baseline: one dash per class across all models' columns.
        let baselines: Vec<(f64, f64)> = classes
            .iter()
            .enumerate()
            .filter_map(|(i, c)| rows.iter().find(|r| r.class == *c).map(|r| (i as f64, r.baseline)))
            .filter(|p| p.1.is_finite())
            .collect();
        chart
            .draw_series(baselines.iter().map(|&(x, y)| PathElement::new(vec![(x - 0.4, y), (x + 0.4, y)], BLACK.stroke_width(2))))
            .map_err(e)?
            .label("average-profile baseline")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
        for (mi, model) in models.iter().enumerate() {
            let color = COLORS[mi % COLORS.len()];
            let mine: Vec<&TableRow> = rows.iter().filter(|r| r.model == *model).collect();
            let bars = mine.iter().filter(|r| r.sd().is_finite()).map(|r| {
                let x = x_of(&r.class, model);
                PathElement::new(vec![(x, r.mean() - r.sd()), (x, r.mean() + r.sd())], color.stroke_width(2))
            });
            chart.draw_series(bars).map_err(e)?;
            chart
                .draw_series(
                    mine.iter().filter(|r| r.mean().is_finite()).map(|r| Circle::new((x_of(&r.class, model), r.mean()), 4, color.filled())),
                )
                .map_err(e)?
                .label(format!("{model}: seeds, mean ± sd"))
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
            let ensembles: Vec<(f64, f64)> =
                mine.iter().filter_map(|r| Some((x_of(&r.class, model), r.ensemble?))).filter(|p| p.1.is_finite()).collect();
            if !ensembles.is_empty() {
                chart
                    .draw_series(ensembles.iter().map(|&p| TriangleMarker::new(p, 6, color)))
                    .map_err(e)?
                    .label(format!("{model}: ensemble"))
                    .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 6, color));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(e)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mark_per_row_and_seed_kind() {
        let row = |model: &str, class: &str, seeds: Vec<(u64, f64)>, ensemble| TableRow {
            model: model.into(),
            class: class.into(),
            tracks: 7,
            genes: 100,
            per_seed: seeds,
            ensemble,
            baseline: 0.3,
        };
        let rows = vec![
            row("model_d", "A", vec![(1, 0.4), (2, 0.5)], Some(0.47)),
            row("model_d", "B", vec![(1, 0.2), (2, 0.3)], Some(0.27)),
            row("model_e", "A", vec![(1, 0.6)], None),
            row("model_e", "B", vec![(1, 0.1)], None),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.svg");
        plot_summary(&path, &rows).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // 4 means and 2 legend circles.
        assert_eq!(svg.matches("<circle").count(), 6, "{svg}");
        // Every text element's content stands on a line of its own.
        let texts: Vec<&str> = svg.lines().map(str::trim).collect();
        for label in ["average-profile baseline", "model_d: seeds, mean ± sd", "model_d: ensemble", "model_e: seeds, mean ± sd", "A", "B"]
        {
            assert!(texts.contains(&label), "{label} missing");
        }
        assert!(!texts.contains(&"model_e: ensemble"));
    }
}
