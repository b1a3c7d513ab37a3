//! The download's progress: a bar in a terminal, plain periodic lines otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use certdrop::download::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::messages::{short_size, Lang};

/// How often the plain form prints a line.
const LINE_INTERVAL: Duration = Duration::from_secs(5);

pub enum Display {
    Bar(ProgressBar),
    Lines { lang: Lang, state: Mutex<Lines> },
}

pub struct Lines {
    total: u64,
    done: u64,
    last_line: Instant,
    started: Instant,
    start_done: u64,
}

impl Display {
    /// A bar when standard error is a terminal, lines otherwise.
    pub fn new(lang: Lang) -> Self {
        if !std::io::stderr().is_terminal() {
            let now = Instant::now();
            let lines = Lines {
                total: 0,
                done: 0,
                last_line: now,
                started: now,
                start_done: 0,
            };
            return Display::Lines {
                lang,
                state: Mutex::new(lines),
            };
        }
        let template = match lang {
            Lang::Ja => "{bar:30.cyan/blue} {bytes}/{total_bytes}  {bytes_per_sec}  残り {eta}",
            Lang::En => "{bar:30.cyan/blue} {bytes}/{total_bytes}  {bytes_per_sec}  {eta} left",
        };
        let style = ProgressStyle::with_template(template)
            .expect("the template is valid")
            .progress_chars("█▉▊▋▌▍▎▏ ");
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(style);
        Display::Bar(bar)
    }

    pub fn finish(&self) {
        if let Display::Bar(bar) = self {
            bar.finish();
        }
    }
}

impl Progress for Display {
    fn start(&self, total: u64, done: u64) {
        match self {
            Display::Bar(bar) => {
                bar.set_length(total);
                bar.set_position(done);
                bar.reset_eta();
            }
            Display::Lines { state, .. } => {
                let mut lines = state.lock().expect("the progress lock is never poisoned");
                let now = Instant::now();
                *lines = Lines {
                    total,
                    done,
                    last_line: now,
                    started: now,
                    start_done: done,
                };
            }
        }
    }

    fn advance(&self, bytes: u64) {
        match self {
            Display::Bar(bar) => bar.inc(bytes),
            Display::Lines { lang, state } => {
                let mut lines = state.lock().expect("the progress lock is never poisoned");
                lines.done += bytes;
                if lines.last_line.elapsed() >= LINE_INTERVAL {
                    lines.last_line = Instant::now();
                    eprintln!("{}", lines.describe(*lang));
                }
            }
        }
    }

    fn verifying(&self) {
        if let Display::Bar(bar) = self {
            bar.finish();
        }
    }
}

impl Lines {
    fn describe(&self, lang: Lang) -> String {
        let percent = (self.done * 100).checked_div(self.total).unwrap_or(100);
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = ((self.done - self.start_done) as f64 / seconds) as u64;
        let (done, total) = (short_size(self.done, lang), short_size(self.total, lang));
        let rate = short_size(rate, lang);
        match lang {
            Lang::Ja => format!("{done} / {total} ({percent}%)、毎秒 {rate}"),
            Lang::En => format!("{done} of {total} ({percent}%), {rate}/s"),
        }
    }
}
