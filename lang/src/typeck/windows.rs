//! The length of a `rolling` or `episode` window: a whole number of at least 1, in days or
//! calendar months for a rolling look-back, in days for the gap that ends an episode, and the
//! date field after `after`.

use crate::ast;
use crate::date::DateUnit;
use crate::diagnostic::{Code, FileId, Problem};
use crate::ir::{Type, Window};
use crate::span::Span;

use crate::check::Checker;

impl Checker<'_> {
    /// The window `y` declares, its length and end checked; `None` once a problem is reported.
    pub(super) fn window(&mut self, y: &ast::YearlyDecl, file: FileId) -> Option<Window> {
        let Some(length) = &y.length else { return Some(y.window) };
        let episode = matches!(y.window, Window::Episode { .. });
        let keyword = y.window.keyword();
        let mut ok = true;
        let count = length.count.filter(|n| *n > 0);
        if count.is_none() {
            let shown = self.file_text(file).get(length.count_span.range()).unwrap_or("");
            let what = if episode { "the gap that ends an episode" } else { "a rolling window" };
            self.report(
                Problem::error(
                    Code::WindowLength,
                    file,
                    length.count_span,
                    format!("{what} is a whole number of at least 1, not `{shown}`"),
                )
                .label("a whole number of at least 1")
                .help(if episode {
                    "write the gap in whole days, as in `episode 60 days`"
                } else {
                    "write the look-back in whole days or months, as in `rolling 12 months`"
                }),
            );
            ok = false;
        }
        let unit = match length.unit.name.as_str() {
            "day" | "days" => Some(DateUnit::Days),
            "month" | "months" if !episode => Some(DateUnit::Months),
            _ => None,
        };
        if unit.is_none() {
            let name = &length.unit.name;
            self.report(
                Problem::error(
                    Code::WindowUnit,
                    file,
                    length.unit.span,
                    format!("{keyword} windows are not counted in `{name}`"),
                )
                .label(if episode { "not days" } else { "not days or months" })
                .help(if episode {
                    "an episode's gap is counted in days, as in `episode 60 days`"
                } else {
                    "a rolling window looks back days or calendar months, as in `rolling 90 days` \
                     or `rolling 12 months`"
                }),
            );
            ok = false;
        }
        let end = match (&length.end, episode) {
            (None, _) => None,
            (Some(end), false) => {
                self.report(
                    Problem::error(
                        Code::WindowEnd,
                        file,
                        end.span,
                        "only an episode ends on a date of its own",
                    )
                    .label("not read by a rolling window")
                    .help("a rolling window looks back from the claim's `dated by` date: remove `after ...`"),
                );
                ok = false;
                None
            }
            (Some(end), true) => match self.end_field(end, file) {
                Some(i) => Some(i),
                None => {
                    ok = false;
                    None
                }
            },
        };
        let (Some(n), Some(unit), true) = (count, unit, ok) else { return None };
        Some(if episode {
            Window::Episode { gap: n, end }
        } else {
            Window::Rolling { length: n, unit }
        })
    }

    /// The input's date field `claim.name` after `after`.
    fn end_field(&mut self, end: &ast::Ident, file: FileId) -> Option<usize> {
        let (input, input_name) = self.input.clone()?;
        let fields = self.records.get(input).map(|r| r.fields.clone()).unwrap_or_default();
        let wrong = |checker: &mut Self, message: String, label: &str| {
            checker.report(
                Problem::error(Code::WindowEnd, file, end.span, message)
                    .label(label.to_string())
                    .help(format!(
                        "name a date field of the input, as in `after {input_name}.discharged`"
                    )),
            );
        };
        let Some(field) = end.name.strip_prefix(&format!("{input_name}.")) else {
            wrong(self, format!("an episode ends on a field of `{input_name}`"), "not a field");
            return None;
        };
        let field = ast::Ident {
            name: field.to_string(),
            span: Span::new(
                (end.span.end as usize).saturating_sub(field.len()),
                end.span.end as usize,
            ),
        };
        match fields.iter().enumerate().find(|(_, f)| f.name == field.name) {
            Some((i, f)) if f.ty == Type::Date => {
                if let Some(symbol) = self.symbols.field(input, i) {
                    self.refer(file, field.span, symbol);
                }
                Some(i)
            }
            Some((_, f)) => {
                let ty = self.type_name(f.ty);
                wrong(self, format!("`{}` is `{ty}`, not a date", end.name), "not a date");
                None
            }
            None => {
                self.unknown_field(
                    file,
                    &input_name,
                    &field,
                    fields.iter().map(|f| f.name.as_str()),
                );
                None
            }
        }
    }
}
