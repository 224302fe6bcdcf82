//! Problems found in policy files: codes, spans, labels, help, and their rendering.
//!
//! Every phase reports into a [`Problems`] collection and keeps going, so one run shows every
//! mistake in a file. A [`Problem`] renders alone through miette, with its file's source.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan};
use serde::Serialize;

use crate::span::Span;

/// The index of a source file in a [`Sources`] set.
pub type FileId = usize;

/// One source file: its name as shown to the user, and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path or name shown in diagnostics.
    pub name: String,
    /// The file's text.
    pub text: Arc<str>,
}

/// The source files a check read: the policy first, then the bases it extends.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    /// Add a file and return its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<Arc<str>>) -> FileId {
        self.files.push(SourceFile { name: name.into(), text: text.into() });
        self.files.len() - 1
    }

    /// The file with this id.
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id)
    }

    /// The text of a file, empty if unknown.
    pub fn text(&self, id: FileId) -> &str {
        self.files.get(id).map_or("", |f| &f.text)
    }

    /// All files in order.
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate()
    }
}

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Stops the build.
    Error,
    /// Reported, does not stop the build (unless warnings are denied).
    Warning,
}

macro_rules! codes {
    ($($variant:ident => $code:literal,)*) => {
        /// The stable code of every problem the front end reports.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $(#[doc = $code] $variant,)* }

        impl Code {
            /// The code as shown to users, such as `settle::type::mismatch`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// Every code, for the reference documentation.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];
        }
    };
}

codes! {
    SyntaxUnexpected => "settle::syntax::unexpected",
    SyntaxUnterminatedString => "settle::syntax::unterminated_string",
    SyntaxUnterminatedComment => "settle::syntax::unterminated_comment",
    SyntaxInvalidCharacter => "settle::syntax::invalid_character",
    SyntaxBadDate => "settle::syntax::bad_date",
    SyntaxBadNumber => "settle::syntax::bad_number",
    SyntaxTooDeep => "settle::syntax::too_deep",
    SyntaxTooLong => "settle::syntax::too_long",
    SyntaxTooLarge => "settle::syntax::too_large",
    SyntaxInvalidUtf8 => "settle::syntax::invalid_utf8",
    PolicyMissingHeader => "settle::policy::missing_header",
    PolicyDuplicateHeader => "settle::policy::duplicate_header",
    PolicyUnknownRounding => "settle::policy::unknown_rounding",
    PolicyMissingInput => "settle::policy::missing_input",
    PolicyMissingKeyField => "settle::policy::missing_key_field",
    PolicyBadDatedField => "settle::policy::bad_dated_field",
    PolicyMissingBalance => "settle::policy::missing_balance",
    GroupKey => "settle::group::key",
    GroupKeyType => "settle::group::key_type",
    GroupTwoKeys => "settle::group::two_keys",
    GroupWindow => "settle::group::window",
    EnumEmpty => "settle::enum::empty",
    ExtendsNotFound => "settle::extends::not_found",
    ExtendsCycle => "settle::extends::cycle",
    ExtendsOverrideType => "settle::extends::override_type",
    ExtendsNothingToOverride => "settle::extends::nothing_to_override",
    ExtendsNeedsOverride => "settle::extends::needs_override",
    ExtendsRedeclared => "settle::extends::redeclared",
    ExtendsAddedDate => "settle::extends::added_date",
    ExtendsAddedBeforeFirst => "settle::extends::added_before_first",
    ExtendsAddedUndated => "settle::extends::added_undated",
    ExtendsAddedTwice => "settle::extends::added_twice",
    ExtendsInputField => "settle::extends::input_field",
    NameUnknown => "settle::name::unknown",
    NameUnknownType => "settle::name::unknown_type",
    NameUnknownField => "settle::name::unknown_field",
    NameUnknownVariant => "settle::name::unknown_variant",
    NameUnknownFunction => "settle::name::unknown_function",
    NameDuplicate => "settle::name::duplicate",
    NameAmbiguousVariant => "settle::name::ambiguous_variant",
    TypeMismatch => "settle::type::mismatch",
    TypeUnits => "settle::type::units",
    TypeRateLiteral => "settle::type::rate_literal",
    TypeCompare => "settle::type::compare",
    TypeCondition => "settle::type::condition",
    TypeNotATable => "settle::type::not_a_table",
    TypeKeyCount => "settle::type::key_count",
    TypeArity => "settle::type::arity",
    TypeNotAScale => "settle::type::not_a_scale",
    TypeNotAFold => "settle::type::not_a_fold",
    TypeNotAValue => "settle::type::not_a_value",
    TypeProportionDivisor => "settle::type::proportion_divisor",
    ArithRoundedRatio => "settle::arith::rounded_ratio",
    TypeDuration => "settle::type::duration",
    TypeRound => "settle::type::round",
    WindowLength => "settle::window::length",
    WindowUnit => "settle::window::unit",
    WindowEnd => "settle::window::end",
    TableMissingKeys => "settle::table::missing_keys",
    TableDuplicateKey => "settle::table::duplicate_key",
    TableUselessWildcard => "settle::table::useless_wildcard",
    TableShape => "settle::table::shape",
    ScaleStart => "settle::scale::start",
    ScaleGap => "settle::scale::gap",
    ScaleOverlap => "settle::scale::overlap",
    ScaleDecreasing => "settle::scale::decreasing",
    ScaleOpenBracket => "settle::scale::open_bracket",
    ScaleBound => "settle::scale::bound",
    ScaleBoundNotInForce => "settle::scale::bound_not_in_force",
    ScaleKey => "settle::scale::key",
    ParamDateOrder => "settle::param::date_order",
    ParamDuplicateDate => "settle::param::duplicate_date",
    RuleNeverFires => "settle::rule::never_fires",
    RuleConflict => "settle::rule::conflict",
    RuleShadowedArm => "settle::rule::shadowed_arm",
    OrderLaterStage => "settle::order::later_stage",
    OrderCycle => "settle::order::cycle",
    StageOutputUnset => "settle::stage::output_unset",
    StageOutputTwice => "settle::stage::output_twice",
    StageNotAnOutput => "settle::stage::not_an_output",
    StageReadBeforeSet => "settle::stage::read_before_set",
    StageUnknownPlace => "settle::stage::unknown_place",
    StageOverridePlaced => "settle::stage::override_placed",
    BalanceTerm => "settle::balance::term",
    UnusedParam => "settle::unused::param",
    UnusedRule => "settle::unused::rule",
    UnusedLet => "settle::unused::let",
    TestUnknownClaim => "settle::test::unknown_claim",
    TestUnknownValue => "settle::test::unknown_value",
    TestMissingField => "settle::test::missing_field",
    TestDuplicateClaim => "settle::test::duplicate_claim",
    TestNotTheInput => "settle::test::not_the_input",
    TestNoClaims => "settle::test::no_claims",
    TestNoExpectation => "settle::test::no_expectation",
    TestBeforeParameters => "settle::test::before_parameters",
    TestUnknownTable => "settle::test::unknown_table",
    PeriodInClaim => "settle::period::in_claim",
    PeriodKey => "settle::period::key",
    PeriodUnit => "settle::period::unit",
    PeriodPhase => "settle::period::phase",
    PeriodShare => "settle::period::share",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A labelled span in the problem's own file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there.
    pub text: String,
    /// Whether this is the problem's main span.
    pub primary: bool,
}

/// A labelled span in another file (for example the base policy's declaration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The other file.
    pub file: FileId,
    /// Where.
    pub span: Span,
    /// What to say there.
    pub text: String,
}

/// One problem in a policy file.
///
/// A problem is built from a [`Draft`], which becomes a `Problem` only once it is given its
/// help line: every problem says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Its stable code.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// The file it is in.
    pub file: FileId,
    /// One line, lowercase, user names in backticks.
    pub message: String,
    /// Labelled spans; the first primary label is the problem's position.
    pub labels: Vec<Label>,
    /// What to do about it.
    pub help: String,
    /// Spans in other files.
    pub notes: Vec<Note>,
    /// Edits that would fix the problem, for editors to offer.
    pub fixes: Vec<Fix>,
}

/// An edit that fixes a problem: replace `span` of `file` with `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// What the edit does, as an editor shows it (`replace with `ratio``).
    pub title: String,
    /// The file edited: the problem's own, or (to add a variant to an enum) a base's.
    pub file: FileId,
    /// The text replaced.
    pub span: Span,
    /// The new text.
    pub text: String,
}

/// A problem being built: code, place and message, with labels and notes, but no help yet.
/// [`Draft::help`] finishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a draft is reported only once `help` turns it into a problem"]
pub struct Draft {
    code: Code,
    severity: Severity,
    file: FileId,
    message: String,
    labels: Vec<Label>,
    notes: Vec<Note>,
}

impl Draft {
    /// Set the primary label's text.
    pub fn label(mut self, text: impl Into<String>) -> Self {
        if let Some(first) = self.labels.first_mut() {
            first.text = text.into();
        }
        self
    }

    /// Add a secondary label in the same file.
    pub fn with(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push(Label { span, text: text.into(), primary: false });
        self
    }

    /// Add a label in `file`: in the same file a secondary label, elsewhere a note.
    pub fn also(mut self, file: FileId, span: Span, text: impl Into<String>) -> Self {
        if file == self.file {
            self.with(span, text)
        } else {
            self.notes.push(Note { file, span, text: text.into() });
            self
        }
    }

    /// Say what to do about it, which makes the draft a problem.
    pub fn help(self, text: impl Into<String>) -> Problem {
        let Draft { code, severity, file, message, labels, notes } = self;
        Problem {
            code,
            severity,
            file,
            message,
            labels,
            help: text.into(),
            notes,
            fixes: Vec::new(),
        }
    }
}

impl Problem {
    /// An error at `span` in `file`; give it a label and, to finish it, help.
    pub fn error(code: Code, file: FileId, span: Span, message: impl Into<String>) -> Draft {
        Draft {
            code,
            severity: Severity::Error,
            file,
            message: message.into(),
            labels: vec![Label { span, text: String::new(), primary: true }],
            notes: Vec::new(),
        }
    }

    /// A warning at `span` in `file`.
    pub fn warning(code: Code, file: FileId, span: Span, message: impl Into<String>) -> Draft {
        Draft { severity: Severity::Warning, ..Problem::error(code, file, span, message) }
    }

    /// Offer an edit that fixes the problem: `text` in place of `span` of the problem's file.
    pub fn fix(self, title: impl Into<String>, span: Span, text: impl Into<String>) -> Self {
        let file = self.file;
        self.fix_in(file, title, span, text)
    }

    /// Offer an edit of `file` that fixes the problem.
    pub fn fix_in(
        mut self,
        file: FileId,
        title: impl Into<String>,
        span: Span,
        text: impl Into<String>,
    ) -> Self {
        self.fixes.push(Fix { title: title.into(), file, span, text: text.into() });
        self
    }

    /// Offer to delete `lines` (the whole declaration of the unused `name`), if known.
    pub fn remove(self, lines: Option<Span>, name: &str) -> Self {
        match lines {
            Some(span) => self.fix(format!("remove `{name}`"), span, ""),
            None => self,
        }
    }

    /// Offer the replacement `did you mean` proposes, if any, for the name at `span`.
    pub fn suggest(self, span: Span, suggestion: Option<&str>) -> Self {
        match suggestion {
            Some(s) => self.fix(format!("replace with `{s}`"), span, s),
            None => self,
        }
    }

    /// The primary span.
    pub fn span(&self) -> Span {
        self.labels.iter().find(|l| l.primary).map(|l| l.span).unwrap_or_default()
    }

    /// Whether this problem stops the build.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Every problem found in a check, errors and warnings, with the sources they point into.
#[derive(Debug, Clone, Default)]
pub struct Problems {
    /// The files read.
    pub sources: Sources,
    /// The problems, sorted by file and position once [`Problems::sort`] ran.
    pub list: Vec<Problem>,
}

impl Problems {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.list.iter().any(Problem::is_error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.list.iter().filter(|p| p.is_error()).count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.list.len() - self.error_count()
    }

    /// Sort by file, then position, then code; drop exact duplicates.
    pub fn sort(&mut self) {
        self.list.sort_by(|a, b| {
            (a.file, a.span(), a.code, &a.message).cmp(&(b.file, b.span(), b.code, &b.message))
        });
        self.list.dedup();
    }

    /// Render every problem as miette draws it, without colour (stable for snapshots).
    pub fn render_plain(&self) -> String {
        self.render(GraphicalTheme::unicode_nocolor(), 100)
    }

    /// Render every problem with a theme and width.
    pub fn render(&self, theme: GraphicalTheme, width: usize) -> String {
        let handler = GraphicalReportHandler::new_themed(theme).with_width(width);
        let mut out = String::new();
        for problem in &self.list {
            let view = self.view(problem);
            if handler.render_report(&mut out, &view).is_err() {
                out.push_str(&problem.message);
                out.push('\n');
            }
        }
        out
    }

    /// A view of one problem that miette can render.
    pub fn view<'a>(&'a self, problem: &'a Problem) -> ProblemView<'a> {
        let notes = problem
            .notes
            .iter()
            .map(|n| NoteView { note: n.clone(), source: named(&self.sources, n.file) })
            .collect();
        ProblemView { problem, source: named(&self.sources, problem.file), notes }
    }

    /// Every problem as plain data for `--format json`.
    pub fn to_json(&self) -> Vec<JsonProblem> {
        self.list.iter().map(|p| JsonProblem::new(p, &self.sources)).collect()
    }
}

fn named(sources: &Sources, file: FileId) -> Named {
    let (name, text) = sources
        .get(file)
        .map_or((String::new(), String::new()), |f| (f.name.clone(), f.text.to_string()));
    Named { name, text }
}

/// A file for miette whose locations (`[file:3:18]`) count columns in characters, as editors
/// and the JSON output ([`line_col`]) do, not in bytes (a line with Chinese names before the
/// problem would otherwise point past it).
#[derive(Debug)]
pub struct Named {
    name: String,
    text: String,
}

impl miette::SourceCode for Named {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self.text.read_span(span, before, after)?;
        let start = inner.span().offset();
        let line_start = self.text.get(..start).and_then(|t| t.rfind('\n')).map_or(0, |i| i + 1);
        let column = self.text.get(line_start..start).map_or(0, |t| t.chars().count());
        let contents = miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            column,
            inner.line_count(),
        )
        .with_language("settle");
        Ok(Box::new(contents))
    }
}

/// A problem with its source, for miette.
#[derive(Debug)]
pub struct ProblemView<'a> {
    problem: &'a Problem,
    source: Named,
    notes: Vec<NoteView>,
}

impl fmt::Display for ProblemView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem.message)
    }
}

impl std::error::Error for ProblemView<'_> {}

impl Diagnostic for ProblemView<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.problem.code.as_str()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.problem.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(&self.problem.help))
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let labels = self.problem.labels.iter().map(|l| {
            let text = (!l.text.is_empty()).then(|| l.text.clone());
            if l.primary {
                LabeledSpan::new_primary_with_span(text, l.span)
            } else {
                LabeledSpan::new_with_span(text, l.span)
            }
        });
        Some(Box::new(labels))
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn Diagnostic> + 'b>> {
        if self.notes.is_empty() {
            return None;
        }
        Some(Box::new(self.notes.iter().map(|n| n as &dyn Diagnostic)))
    }
}

/// A note in another file, rendered as advice.
#[derive(Debug)]
pub struct NoteView {
    note: Note,
    source: Named,
}

impl fmt::Display for NoteView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.note.text)
    }
}

impl std::error::Error for NoteView {}

impl Diagnostic for NoteView {
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Advice)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_primary_with_span(
            Some("here".to_string()),
            self.note.span,
        ))))
    }
}

/// A problem as JSON for tools and editors. Lines and columns count from 1; columns count
/// characters.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JsonProblem {
    /// File name.
    pub file: String,
    /// Stable code.
    pub code: &'static str,
    /// `error` or `warning`.
    pub severity: Severity,
    /// The message.
    pub message: String,
    /// Where it starts and ends.
    pub range: JsonRange,
    /// Labels in the same file.
    pub labels: Vec<JsonLabel>,
    /// What to do about it.
    pub help: String,
}

/// A range of a file.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct JsonRange {
    /// Byte offset of the start.
    pub start: u32,
    /// Byte offset past the end.
    pub end: u32,
    /// Line of the start, from 1.
    pub line: usize,
    /// Column of the start in characters, from 1.
    pub column: usize,
    /// Line of the end, from 1.
    pub end_line: usize,
    /// Column of the end in characters, from 1.
    pub end_column: usize,
}

/// A label for JSON output.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JsonLabel {
    /// Where.
    pub range: JsonRange,
    /// What it says.
    pub text: String,
    /// Whether it is the main label.
    pub primary: bool,
}

impl JsonProblem {
    fn new(p: &Problem, sources: &Sources) -> Self {
        let text = sources.text(p.file);
        JsonProblem {
            file: sources.get(p.file).map(|f| f.name.clone()).unwrap_or_default(),
            code: p.code.as_str(),
            severity: p.severity,
            message: p.message.clone(),
            range: JsonRange::of(text, p.span()),
            labels: p
                .labels
                .iter()
                .map(|l| JsonLabel {
                    range: JsonRange::of(text, l.span),
                    text: l.text.clone(),
                    primary: l.primary,
                })
                .collect(),
            help: p.help.clone(),
        }
    }
}

impl JsonRange {
    /// The line and column of both ends of `span` in `text`.
    pub fn of(text: &str, span: Span) -> Self {
        let (line, column) = line_col(text, span.start as usize);
        let (end_line, end_column) = line_col(text, span.end as usize);
        JsonRange { start: span.start, end: span.end, line, column, end_line, end_column }
    }
}

/// Line and character column (both from 1) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// The closest of `candidates` to `name`, if any is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        let score = strsim::jaro_winkler(&name.to_lowercase(), &candidate.to_lowercase());
        let close = strsim::levenshtein(name, candidate) <= (name.chars().count() / 3).max(1);
        if (score >= 0.85 || close) && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["deductible", "basic_cap", "ratio"];
        assert_eq!(did_you_mean("deductable", names), Some("deductible"));
        assert_eq!(did_you_mean("basic_cp", names), Some("basic_cap"));
        assert_eq!(did_you_mean("zzz", names), None);
    }

    #[test]
    fn rendered_locations_count_characters_as_json_does() {
        let text = "policy x \"中文\"\ninput claim { id: text, member: text, date: date, total: money }\nlet 名字 = \"德州市\" + ratoi\n";
        let checked = crate::check("cj.settle", text);
        let json = checked.problems.to_json();
        let column = json.first().map(|p| p.range.column);
        assert_eq!(column, Some(18), "{json:?}");
        let rendered = checked.problems.render_plain();
        assert!(rendered.contains("[cj.settle:3:18]"), "{rendered}");
    }

    #[test]
    fn lines_and_columns_count_characters() {
        let text = "ab\n起付线 x";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 3 + 9 + 1), (2, 5));
    }
}
