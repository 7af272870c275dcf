//! Pictures of what a model learned, as SVG: sequence logos of attribution maps (letters scaled by
//! their signed value, positive above the axis, negative below) and of PPMs (letters scaled by
//! probability × information content), and a heatmap of kernel importance per track.
//!
//! The SVG is written directly: a letter is a `<text>` glyph scaled to its height, which plotters'
//! text API cannot do (it draws text at one font size).

use std::fmt::Write as _;
use std::path::Path;

use crate::eval::atomic_file::write_bytes_atomically;

const COLOURS: [&str; 4] = ["#109648", "#255c99", "#f7b32b", "#d62839"];
const LETTERS: [char; 4] = ['A', 'C', 'G', 'T'];
/// Width of one position and height of one unit of value, in px.
const COL: f64 = 14.0;
const PLOT_H: f64 = 120.0;

/// One letter of height `h` (px, > 0) with its baseline at `y`, `x` the column's left edge.
fn letter(svg: &mut String, c: usize, x: f64, y: f64, h: f64) {
    // The glyph's cap height is about 0.72 em in a sans-serif font: scale it to h.
    let scale = h / 0.72;
    let _ = write!(
        svg,
        r#"<text transform="translate({x:.2},{y:.2}) scale({:.3},{scale:.3})" font-family="sans-serif" font-weight="bold" font-size="1" fill="{}">{}</text>"#,
        COL / 0.66,
        COLOURS[c],
        LETTERS[c]
    );
}

/// The SVG of a logo of a `(4, w)` matrix whose letter heights are `values` (signed), with a
/// title and tick labels starting at `first_position`.
pub fn logo_svg(values: &[f64], w: usize, title: &str, first_position: usize) -> String {
    let max_up = (0..w).map(|j| (0..4).map(|c| values[c * w + j].max(0.0)).sum::<f64>()).fold(0.0, f64::max);
    let max_down = (0..w).map(|j| (0..4).map(|c| (-values[c * w + j]).max(0.0)).sum::<f64>()).fold(0.0, f64::max);
    let range = (max_up + max_down).max(1e-12);
    let unit = PLOT_H / range;
    let (left, top) = (50.0, 30.0);
    let axis = top + max_up * unit;
    let width = left + COL * w as f64 + 20.0;
    let height = top + PLOT_H + 40.0;
    let mut svg =
        format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}">"#);
    let _ = write!(
        svg,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{left}" y="18" font-family="sans-serif" font-size="13">{}</text>"#,
        escape(title)
    );
    for j in 0..w {
        let x = left + COL * j as f64;
        let mut order: Vec<usize> = (0..4).collect();
        order.sort_by(|&a, &b| values[a * w + j].abs().total_cmp(&values[b * w + j].abs()));
        let (mut up, mut down) = (axis, axis);
        for &c in &order {
            let h = values[c * w + j].abs() * unit;
            if h < 0.05 {
                continue;
            }
            if values[c * w + j] > 0.0 {
                letter(&mut svg, c, x, up, h);
                up -= h;
            } else {
                down += h;
                letter(&mut svg, c, x, down, h);
            }
        }
        if (first_position + j).is_multiple_of(10) {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" font-family="sans-serif" font-size="9" text-anchor="middle">{}</text>"#,
                x + COL / 2.0,
                top + PLOT_H + 16.0,
                first_position + j
            );
        }
    }
    let _ = write!(
        svg,
        r##"<line x1="{left}" y1="{axis:.2}" x2="{:.1}" y2="{axis:.2}" stroke="#444" stroke-width="0.8"/>"##,
        left + COL * w as f64
    );
    let _ = write!(
        svg,
        r##"<line x1="{0}" y1="{top}" x2="{0}" y2="{1:.1}" stroke="#444" stroke-width="0.8"/><text x="4" y="{2:.1}" font-family="sans-serif" font-size="9">{3:.3}</text><text x="4" y="{4:.1}" font-family="sans-serif" font-size="9">{5:.3}</text>"##,
        left - 4.0,
        top + PLOT_H,
        top + 8.0,
        max_up,
        top + PLOT_H,
        -max_down
    );
    svg.push_str("</svg>\n");
    svg
}

/// Letter heights of a `(4, w)` PPM: probability × information content (bits, 2 − entropy of the
/// column normalised to sum 1).
pub fn ppm_heights(ppm: &[f32], w: usize) -> Vec<f64> {
    let mut out = vec![0f64; 4 * w];
    for j in 0..w {
        let s: f64 = (0..4).map(|c| f64::from(ppm[c * w + j])).sum();
        if s <= 0.0 {
            continue;
        }
        let p: Vec<f64> = (0..4).map(|c| f64::from(ppm[c * w + j]) / s).collect();
        let ic = 2.0 + p.iter().filter(|&&v| v > 0.0).map(|v| v * v.log2()).sum::<f64>();
        (0..4).for_each(|c| out[c * w + j] = p[c] * ic);
    }
    out
}

/// A heatmap of `values` (rows × columns, e.g. kernels × tracks), blue for negative and red for
/// positive, scaled by the largest |value|.
pub fn heatmap_svg(values: &[Vec<f64>], rows: &[String], cols: &[String], title: &str) -> String {
    let cell = 12.0;
    let (left, top) = (90.0, 100.0);
    let width = left + cell * cols.len() as f64 + 20.0;
    let height = top + cell * rows.len() as f64 + 20.0;
    let max = values.iter().flatten().filter(|v| v.is_finite()).fold(0f64, |m, v| m.max(v.abs())).max(1e-12);
    let mut svg =
        format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}">"#);
    let _ = write!(
        svg,
        r#"<rect width="100%" height="100%" fill="white"/><text x="4" y="16" font-family="sans-serif" font-size="13">{} (max |value| {})</text>"#,
        escape(title),
        crate::eval::float_text::python_repr(max)
    );
    for (j, c) in cols.iter().enumerate() {
        let x = left + cell * (j as f64 + 0.5);
        let _ = write!(
            svg,
            r#"<text transform="translate({x:.1},{:.1}) rotate(-60)" font-family="sans-serif" font-size="8">{}</text>"#,
            top - 4.0,
            escape(c)
        );
    }
    for (i, (row, name)) in values.iter().zip(rows).enumerate() {
        let y = top + cell * i as f64;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-family="sans-serif" font-size="8" text-anchor="end">{}</text>"#,
            left - 4.0,
            y + cell * 0.75,
            escape(name)
        );
        for (j, &v) in row.iter().enumerate() {
            let t = if v.is_finite() { (v / max).clamp(-1.0, 1.0) } else { 0.0 };
            let (r, g, b) =
                if t >= 0.0 { (255.0, 255.0 * (1.0 - t), 255.0 * (1.0 - t)) } else { (255.0 * (1.0 + t), 255.0 * (1.0 + t), 255.0) };
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{y:.1}" width="{cell}" height="{cell}" fill="rgb({:.0},{:.0},{:.0})"/>"#,
                left + cell * j as f64,
                r,
                g,
                b
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Writes an SVG atomically.
pub fn write_svg(path: &Path, svg: &str) -> anyhow::Result<()> {
    write_bytes_atomically(path, svg.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logo_stacks_positive_letters_up_and_negative_down() {
        // (4, 2): position 0 A +1, T −0.5; position 1 C +0.25
        let v = [1.0, 0.0, 0.0, 0.25, 0.0, 0.0, -0.5, 0.0];
        let svg = logo_svg(&v, 2, "gene <1>", 100);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches(">A</text>").count(), 1);
        assert_eq!(svg.matches(">C</text>").count(), 1);
        assert_eq!(svg.matches(">T</text>").count(), 1);
        assert!(svg.contains("gene &lt;1&gt;") && svg.contains(">100</text>"));
        // A's height is 1 of the 1.5 range: 80 px, scaled by 1/0.72
        assert!(svg.contains(&format!("scale({:.3},{:.3})", COL / 0.66, 80.0 / 0.72)), "{svg}");
    }

    #[test]
    fn ppm_letters_carry_information_content() {
        // a certain A (2 bits) and a uniform column (0 bits)
        let h = ppm_heights(&[1.0, 0.25, 0.0, 0.25, 0.0, 0.25, 0.0, 0.25], 2);
        assert_eq!(h, vec![2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let svg = heatmap_svg(&[vec![1.0, -0.5]], &["filter0".into()], &["t0".into(), "t1".into()], "importance");
        assert!(svg.contains("rgb(255,0,0)") && svg.contains("rgb(128,128,255)"), "{svg}");
    }
}
