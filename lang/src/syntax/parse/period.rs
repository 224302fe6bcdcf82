//! Period settlement's items: `period`, `case` and `table`.

use super::{Builder, Kids, Rule, kids};
use crate::ast::period::{CaseDecl, ColumnDecl, PeriodDecl, PeriodItem, TableDecl};
use crate::span::Span;

impl Builder<'_> {
    /// A `period`, `case` or `table` item.
    pub(super) fn period_item(
        &self,
        rule: Rule,
        inner: Kids<'_>,
        base: usize,
        span: Span,
    ) -> Option<PeriodItem> {
        let mut inner = inner.peekable();
        let name = self.ident(inner.next()?, base);
        match rule {
            Rule::table_decl => {
                let title =
                    inner.next_if(|p| p.as_rule() == Rule::string).map(|p| self.text(p, base));
                let key = self.expr(kids(inner.next()?).next()?, base);
                let columns = inner.filter_map(|c| self.column(c, base)).collect();
                Some(PeriodItem::Table(TableDecl { name, title, key, columns, span }))
            }
            _ => {
                let (mut ty, mut value, mut key, mut filter) = (None, None, None, None);
                for p in inner {
                    match p.as_rule() {
                        Rule::type_ann => ty = Some(self.type_ann(p, base)?),
                        Rule::expr => value = Some(self.expr(p, base)),
                        Rule::period_key => key = Some(self.expr(kids(p).next()?, base)),
                        Rule::where_clause => filter = self.where_clause(p, base),
                        _ => {}
                    }
                }
                let value = value?;
                Some(if rule == Rule::case_decl {
                    PeriodItem::Case(CaseDecl { name, ty, value, span })
                } else {
                    PeriodItem::Period(PeriodDecl { name, ty, value, key, filter, span })
                })
            }
        }
    }

    fn column(&self, pair: super::P<'_>, base: usize) -> Option<ColumnDecl> {
        let span = self.span(&pair, base);
        let mut inner = kids(pair);
        let name = self.ident(inner.next()?, base);
        let (mut ty, mut value, mut filter) = (None, None, None);
        for p in inner {
            match p.as_rule() {
                Rule::type_ann => ty = Some(self.type_ann(p, base)?),
                Rule::expr => value = Some(self.expr(p, base)),
                Rule::where_clause => filter = self.where_clause(p, base),
                _ => {}
            }
        }
        Some(ColumnDecl { name, ty, value: value?, filter, span })
    }
}
