//! Small RGB images written as PNG, for training plots and saliency maps:
//! lines, rectangles, a 3×5 pixel font for labels, grey-scale and
//! red/blue heat maps. Written without a system library.

use std::io::BufWriter;
use std::path::Path;

/// An RGB image, row-major, white at creation.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

/// A color.
pub type Rgb = [u8; 3];

/// 3×5 glyphs for digits, a few letters and signs: one row per `u8`, the low
/// three bits left to right.
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c.to_ascii_lowercase() {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 2, 2],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '%' => [5, 1, 2, 4, 5],
        '-' => [0, 0, 7, 0, 0],
        ':' => [0, 2, 0, 2, 0],
        'a' => [2, 5, 7, 5, 5],
        'c' => [7, 4, 4, 4, 7],
        'e' => [7, 4, 6, 4, 7],
        'h' => [5, 5, 7, 5, 5],
        'l' => [4, 4, 4, 4, 7],
        'o' => [7, 5, 5, 5, 7],
        'p' => [7, 5, 7, 4, 4],
        'r' => [6, 5, 6, 5, 5],
        's' => [7, 4, 7, 1, 7],
        't' => [7, 2, 2, 2, 2],
        'u' => [5, 5, 5, 5, 7],
        'y' => [5, 5, 2, 2, 2],
        'n' => [6, 5, 5, 5, 5],
        'g' => [7, 4, 5, 5, 7],
        'i' => [7, 2, 2, 2, 7],
        'm' => [5, 7, 7, 5, 5],
        'd' => [6, 5, 5, 5, 6],
        'x' => [5, 5, 2, 5, 5],
        ' ' => [0, 0, 0, 0, 0],
        _ => return None,
    })
}

impl Image {
    /// A white image.
    pub fn new(width: usize, height: usize) -> Image {
        Image {
            width,
            height,
            rgb: vec![255; width * height * 3],
        }
    }

    /// Sets one pixel; outside the image, nothing.
    pub fn put(&mut self, x: i64, y: i64, c: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = (y as usize * self.width + x as usize) * 3;
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    /// A filled rectangle.
    pub fn rect(&mut self, x: i64, y: i64, w: i64, h: i64, c: Rgb) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.put(xx, yy, c);
            }
        }
    }

    /// A line from `(x0, y0)` to `(x1, y1)`, `thick` pixels wide.
    pub fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: Rgb, thick: i64) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
        for s in 0..=steps {
            let x = x0 + (x1 - x0) * s / steps;
            let y = y0 + (y1 - y0) * s / steps;
            self.rect(x - thick / 2, y - thick / 2, thick, thick, c);
        }
    }

    /// Text in the 3×5 font, each font pixel `scale` pixels square; unknown
    /// characters are skipped.
    pub fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: Rgb) {
        let mut cx = x;
        for ch in s.chars() {
            if let Some(rows) = glyph(ch) {
                for (r, bits) in rows.iter().enumerate() {
                    for b in 0..3 {
                        if bits & (4 >> b) != 0 {
                            self.rect(cx + b * scale, y + r as i64 * scale, scale, scale, c);
                        }
                    }
                }
            }
            cx += 4 * scale;
        }
    }

    /// Writes the image as PNG (to a temporary file, then renamed over
    /// `path`).
    ///
    /// ```
    /// let mut img = adjoint_runtime::image::Image::new(8, 4);
    /// img.line((0, 0), (7, 3), [0, 0, 0], 1);
    /// let path = std::env::temp_dir().join(format!("adjoint-doc-{}.png", std::process::id()));
    /// img.save_png(&path).unwrap();
    /// assert_eq!(&std::fs::read(&path).unwrap()[..4], b"\x89PNG");
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn save_png(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let path = path.as_ref();
        let tmp = path.with_extension(format!("png.{}.tmp", std::process::id()));
        let result = (|| {
            let file = std::fs::File::create(&tmp)?;
            let mut enc =
                png::Encoder::new(BufWriter::new(file), self.width as u32, self.height as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().map_err(std::io::Error::other)?;
            writer
                .write_image_data(&self.rgb)
                .map_err(std::io::Error::other)?;
            writer.finish().map_err(std::io::Error::other)?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// A `rows × cols` grey-scale picture of `values` (row-major), black at
    /// `lo` and white at `hi`, each value `scale` pixels square, at `(x, y)`.
    #[allow(clippy::too_many_arguments)]
    pub fn grey(
        &mut self,
        x: i64,
        y: i64,
        values: &[f32],
        rows: usize,
        cols: usize,
        lo: f32,
        hi: f32,
        scale: i64,
    ) {
        let span = (hi - lo).max(1e-12);
        self.cells(x, y, values, rows, cols, scale, |v| {
            let g = (((v - lo) / span).clamp(0.0, 1.0) * 255.0) as u8;
            [g, g, g]
        });
    }

    /// A heat map of `values`: white at 0, red for positive, blue for
    /// negative, full at `±max`.
    #[allow(clippy::too_many_arguments)]
    pub fn heat(
        &mut self,
        x: i64,
        y: i64,
        values: &[f32],
        rows: usize,
        cols: usize,
        max: f32,
        scale: i64,
    ) {
        let max = max.max(1e-12);
        self.cells(x, y, values, rows, cols, scale, |v| {
            let t = (v / max).clamp(-1.0, 1.0);
            let fade = (255.0 * (1.0 - t.abs())) as u8;
            if t >= 0.0 {
                [255, fade, fade]
            } else {
                [fade, fade, 255]
            }
        });
    }

    /// `values` (row-major, `rows × cols`) as squares of `scale` pixels at
    /// `(x, y)`, each in the color `color` gives its value.
    #[allow(clippy::too_many_arguments)]
    fn cells(
        &mut self,
        x: i64,
        y: i64,
        values: &[f32],
        rows: usize,
        cols: usize,
        scale: i64,
        color: impl Fn(f32) -> [u8; 3],
    ) {
        for r in 0..rows {
            for c in 0..cols {
                self.rect(
                    x + c as i64 * scale,
                    y + r as i64 * scale,
                    scale,
                    scale,
                    color(values[r * cols + c]),
                );
            }
        }
    }
}

/// A chart of one or more series over epochs `1..=n`, with axes, ticks at
/// the series' minimum and maximum, and a title; `series` are
/// `(values, color)`.
pub fn chart(
    img: &mut Image,
    area: (i64, i64, i64, i64),
    title: &str,
    series: &[(&[f64], Rgb)],
    percent: bool,
) {
    let (x0, y0, w, h) = area;
    let black = [0, 0, 0];
    img.text(x0, y0 - 16, title, 2, black);
    img.line((x0, y0), (x0, y0 + h), black, 1);
    img.line((x0, y0 + h), (x0 + w, y0 + h), black, 1);
    let all: Vec<f64> = series
        .iter()
        .flat_map(|(v, _)| v.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    if all.is_empty() {
        return;
    }
    let (mut lo, mut hi) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    if hi - lo < 1e-9 {
        lo -= 0.5;
        hi += 0.5;
    }
    let n = series
        .iter()
        .map(|(v, _)| v.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let px = |i: usize| x0 + (i as i64) * w / (n as i64 - 1);
    let py = |v: f64| y0 + h - ((v - lo) / (hi - lo) * h as f64) as i64;
    let label = |v: f64| {
        if percent {
            format!("{:.1}%", 100.0 * v)
        } else {
            format!("{v:.3}")
        }
    };
    img.text(
        x0 - 4 * 2 * label(hi).len() as i64 - 6,
        py(hi) - 5,
        &label(hi),
        2,
        black,
    );
    img.text(
        x0 - 4 * 2 * label(lo).len() as i64 - 6,
        py(lo) - 5,
        &label(lo),
        2,
        black,
    );
    for i in 0..n {
        img.line((px(i), y0 + h), (px(i), y0 + h + 4), black, 1);
        img.text(px(i) - 3, y0 + h + 8, &(i + 1).to_string(), 2, black);
    }
    img.text(x0 + w / 2 - 20, y0 + h + 24, "epoch", 2, black);
    for (values, color) in series {
        for i in 1..values.len() {
            img.line(
                (px(i - 1), py(values[i - 1])),
                (px(i), py(values[i])),
                *color,
                3,
            );
        }
        for (i, &v) in values.iter().enumerate() {
            img.rect(px(i) - 3, py(v) - 3, 7, 7, *color);
        }
    }
}
