//! Group totals: the key of `monthly by claim.household name = ...`. A group total folds the
//! earlier claims of every member whose claims carry the same key, so the key must be a `text`
//! field of the input (a household, an employer account), and every group total of a policy
//! keys by the same field: the engine settles all claims of one key together, and a second key
//! would tie groups of the first together without end.

use crate::ast::{self, Item};
use crate::diagnostic::{Code, Problem};
use crate::ir::{self, ExprKind, Type};
use crate::span::Span;

use super::expr::{Scope, TExpr};
use crate::check::{Checker, Global};

impl Checker<'_> {
    /// Resolve the key of every group total, after the accumulators are checked: a `text` field
    /// of the input, one field for the whole policy.
    pub(crate) fn check_groups(&mut self) {
        let items = self.items.clone();
        // The first group total's field, its name and where it is written.
        let mut first: Option<(usize, String, usize, Span)> = None;
        for m in &items {
            let (Item::Yearly(y), Some(Global::Acc(a))) = (m.item, m.id) else { continue };
            let Some(key) = &y.group else { continue };
            if y.length.is_some() {
                self.report(
                    Problem::error(
                        Code::GroupWindow,
                        m.file,
                        key.span,
                        format!("`{}` looks back over a member's own claims", y.name.name),
                    )
                    .label("a group key on a rolling or episode total")
                    .help(
                        "rolling and episode totals are kept per member; a group total is \
                         `yearly`, `lifetime`, `monthly` or `quarterly`: remove `by ...` or \
                         choose one of those windows",
                    ),
                );
                continue;
            }
            let Some(field) = self.group_key(y, key, m.file) else { continue };
            let name = self.field_name(field);
            match &first {
                Some((f, first_name, file, span)) if *f != field => {
                    self.report(
                        Problem::error(
                            Code::GroupTwoKeys,
                            m.file,
                            key.span,
                            format!(
                                "`{}` is grouped by `{name}`, another total by `{first_name}`",
                                y.name.name
                            ),
                        )
                        .label(format!("grouped by `{name}`"))
                        .also(*file, *span, format!("grouped by `{first_name}` here"))
                        .help(format!(
                            "the claims of one group settle together, so a policy's group totals \
                             share one key: group this total `by claim.{first_name}` too"
                        )),
                    );
                    continue;
                }
                Some(_) => {}
                None => first = Some((field, name, m.file, key.span)),
            }
            if let Some(def) = self.accs.get_mut(a).and_then(|slot| slot.def.as_mut()) {
                def.group = Some(field);
            }
        }
    }

    /// The input field keying `y`'s group, or `None` after reporting why `key` cannot key one.
    fn group_key(&mut self, y: &ast::YearlyDecl, key: &ast::Expr, file: usize) -> Option<usize> {
        let scope = Scope { file, ..Scope::default() };
        let typed = match self.infer(&scope, key, None) {
            TExpr::Typed(e) => e,
            // Its problem is reported already (an unknown name or field).
            TExpr::Error(_) => return None,
            TExpr::Number(_) => {
                self.not_a_field(y, key, file);
                return None;
            }
        };
        let ir::Expr { kind: ExprKind::Field(field), ty, .. } = typed else {
            self.not_a_field(y, key, file);
            return None;
        };
        if ty != Type::Text {
            let type_name = self.type_name(ty);
            self.report(
                Problem::error(
                    Code::GroupKeyType,
                    file,
                    key.span,
                    format!("a group cannot be keyed by `{type_name}`"),
                )
                .label(format!("this is `{type_name}`"))
                .help(match ty {
                    Type::Money | Type::Rate => format!(
                        "a `{type_name}` names no household or account: key the group by a \
                         `text` field naming one, such as `household: text`"
                    ),
                    _ => "key the group by a `text` field naming it, such as `household: text` \
                          (write codes and numbers as text)"
                        .to_owned(),
                }),
            );
            return None;
        }
        Some(field)
    }

    fn not_a_field(&mut self, y: &ast::YearlyDecl, key: &ast::Expr, file: usize) {
        let input = self.input.as_ref().map_or_else(|| "claim".to_owned(), |(_, n)| n.clone());
        self.report(
            Problem::error(
                Code::GroupKey,
                file,
                key.span,
                format!("`{}` must be grouped by a field of the claim", y.name.name),
            )
            .label("not a field of the claim")
            .help(format!(
                "name the field whose value the group shares, as in `{} by {input}.household {}`",
                y.window.keyword(),
                y.name.name
            )),
        );
    }

    /// The name of input field `field`.
    fn field_name(&self, field: usize) -> String {
        self.input
            .as_ref()
            .and_then(|(r, _)| self.records.get(*r))
            .and_then(|r| r.fields.get(field))
            .map_or_else(String::new, |f| f.name.clone())
    }
}
