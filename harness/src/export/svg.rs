//! Just enough SVG for the HTML report's charts: a canvas with margins, linear and log scales,
//! axes with ticks, and the few shapes the charts use. Numbers are rounded to 0.1 px.

use std::fmt::Write as _;

use super::markup::escape;

/// A scale from data values to pixels.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    from: (f64, f64),
    to: (f64, f64),
    log: bool,
}

impl Scale {
    pub fn linear(from: (f64, f64), to: (f64, f64)) -> Self {
        let from = if from.1 > from.0 {
            from
        } else {
            (from.0, from.0 + 1.0)
        };
        Self {
            from,
            to,
            log: false,
        }
    }

    /// Log10 scale; values are clamped to at least `from.0`.
    pub fn log(from: (f64, f64), to: (f64, f64)) -> Self {
        let low = from.0.max(1e-9);
        let high = if from.1 > low { from.1 } else { low * 10.0 };
        Self {
            from: (low.log10(), high.log10()),
            to,
            log: true,
        }
    }

    pub fn at(&self, value: f64) -> f64 {
        let v = if self.log {
            value.max(10f64.powf(self.from.0)).log10()
        } else {
            value
        };
        let share = (v - self.from.0) / (self.from.1 - self.from.0);
        self.to.0 + share * (self.to.1 - self.to.0)
    }

    /// Round tick values: 1-2-5 steps for linear, powers of ten for log.
    pub fn ticks(&self, want: usize) -> Vec<f64> {
        if self.log {
            // Decades, and 2x and 5x between them when there are few decades.
            let decades = (self.from.1 - self.from.0).ceil() as usize;
            let steps: &[f64] = if decades < 3 {
                &[1.0, 2.0, 5.0]
            } else {
                &[1.0]
            };
            let inside =
                |v: &f64| v.log10() >= self.from.0 - 1e-9 && v.log10() <= self.from.1 + 1e-9;
            return (self.from.0.floor() as i32..=self.from.1.ceil() as i32)
                .flat_map(|e| steps.iter().map(move |m| m * 10f64.powi(e)))
                .filter(inside)
                .collect();
        }
        let span = self.from.1 - self.from.0;
        let raw = span / want.max(1) as f64;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|s| *s >= raw)
            .unwrap_or(magnitude * 10.0);
        let first = (self.from.0 / step).ceil() * step;
        (0..)
            .map(|i| first + step * f64::from(i))
            .take_while(|v| *v <= self.from.1 + 1e-9)
            .collect()
    }
}

/// An SVG document being written.
#[derive(Debug)]
pub struct Svg {
    out: String,
}

fn r(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

impl Svg {
    /// `<svg class="chart {class}" ...>` of `width` x `height` px with extra attributes.
    pub fn new(class: &str, width: f64, height: f64, attrs: &str) -> Self {
        let out = format!(
            "<svg class=\"chart {class}\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" \
             width=\"{width}\" height=\"{height}\" {attrs}>"
        );
        Self { out }
    }

    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, title: &str) -> &mut Self {
        let _ = write!(
            self.out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\"",
            r(x),
            r(y),
            r(w.max(0.0)),
            r(h.max(0.0))
        );
        if title.is_empty() {
            self.out.push_str("/>");
        } else {
            let _ = write!(self.out, "><title>{}</title></rect>", escape(title));
        }
        self
    }

    pub fn line(
        &mut self,
        from: (f64, f64),
        to: (f64, f64),
        stroke: &str,
        width: f64,
        class: &str,
    ) -> &mut Self {
        let _ = write!(
            self.out,
            "<line class=\"{class}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{stroke}\" stroke-width=\"{width}\"/>",
            r(from.0),
            r(from.1),
            r(to.0),
            r(to.1)
        );
        self
    }

    pub fn polyline(
        &mut self,
        points: &[(f64, f64)],
        stroke: &str,
        width: f64,
        title: &str,
    ) -> &mut Self {
        if points.is_empty() {
            return self;
        }
        let pts: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{},{}", r(*x), r(*y)))
            .collect();
        let _ = write!(
            self.out,
            "<polyline class=\"series\" points=\"{}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"{width}\" \
             stroke-linejoin=\"round\"><title>{}</title></polyline>",
            pts.join(" "),
            escape(title)
        );
        self
    }

    pub fn circle(&mut self, at: (f64, f64), radius: f64, fill: &str, title: &str) -> &mut Self {
        let _ = write!(
            self.out,
            "<circle cx=\"{}\" cy=\"{}\" r=\"{radius}\" fill=\"{fill}\"><title>{}</title></circle>",
            r(at.0),
            r(at.1),
            escape(title)
        );
        self
    }

    /// Text; `anchor` is `start`, `middle` or `end`.
    pub fn text(&mut self, at: (f64, f64), text: &str, anchor: &str, class: &str) -> &mut Self {
        let _ = write!(
            self.out,
            "<text class=\"{class}\" x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            r(at.0),
            r(at.1),
            escape(text)
        );
        self
    }

    /// A horizontal axis at `y` with ticks labelled by `label`.
    pub fn x_axis(
        &mut self,
        scale: &Scale,
        y: f64,
        ticks: &[f64],
        label: &dyn Fn(f64) -> String,
    ) -> &mut Self {
        let (a, b) = (scale.at(scale_min(scale)), scale.at(scale_max(scale)));
        self.line((a, y), (b, y), "#888", 1.0, "axis");
        for t in ticks {
            let x = scale.at(*t);
            self.line((x, y), (x, y + 4.0), "#888", 1.0, "tick");
            self.text((x, y + 15.0), &label(*t), "middle", "tick");
        }
        self
    }

    /// A vertical axis at `x` with ticks labelled by `label` and light grid lines to `grid_to`.
    pub fn y_axis(
        &mut self,
        scale: &Scale,
        x: f64,
        grid_to: f64,
        ticks: &[f64],
        label: &dyn Fn(f64) -> String,
    ) -> &mut Self {
        for t in ticks {
            let y = scale.at(*t);
            self.line((x, y), (grid_to, y), "#eee", 1.0, "grid");
            self.text((x - 4.0, y + 4.0), &label(*t), "end", "tick");
        }
        self
    }

    /// Raw markup, for what the helpers do not cover.
    pub fn raw(&mut self, markup: &str) -> &mut Self {
        self.out.push_str(markup);
        self
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

fn scale_min(s: &Scale) -> f64 {
    if s.log {
        10f64.powf(s.from.0)
    } else {
        s.from.0
    }
}

fn scale_max(s: &Scale) -> f64 {
    if s.log {
        10f64.powf(s.from.1)
    } else {
        s.from.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_and_inside() {
        let s = Scale::linear((0.0, 7.3), (0.0, 100.0));
        assert_eq!(s.ticks(5), vec![0.0, 2.0, 4.0, 6.0]);
        assert_eq!(s.at(7.3), 100.0);
    }

    #[test]
    fn log_scales_place_decades_evenly() {
        let s = Scale::log((100.0, 100_000.0), (0.0, 300.0));
        assert_eq!(s.ticks(5), vec![100.0, 1000.0, 10_000.0, 100_000.0]);
        assert!((s.at(1000.0) - 100.0).abs() < 1e-9);
    }
}
