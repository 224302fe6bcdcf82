//! `settle._settle`: the native module under the `settle` Python package (`python/settle/`).
//!
//! Policies are checked by the front end exactly as `settle check` checks a file (bases loaded
//! through `extends` relative to it); claims cross from pyarrow by the Arrow C data interface
//! (the PyCapsule protocol: no copy of a column) and are settled by
//! [`settle_runtime::arrow::Settler`], the GIL released while they settle; settlements go back
//! to pyarrow the same way.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_pyarrow::PyArrowType;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use settle_lang::ir::Policy;
use settle_runtime::arrow::{Settler, output_schema};
use settle_runtime::io::{FileLoader, output_columns};
use settle_runtime::{Engine, trace};

/// A diagnostic as a tuple: code, message, file, line, column, help, severity.
type Diagnostic = (String, String, String, usize, usize, String, String);

/// A checked policy.
#[pyclass(name = "Policy", module = "settle._settle", frozen)]
struct PyPolicy {
    policy: Arc<Policy>,
    /// The warnings `settle check` shows for it (rendered), empty when none.
    warnings: String,
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// Check the policy file at `path`: the policy or `None`, the text `settle check` prints for
/// it, and its diagnostics.
#[pyfunction]
fn load(path: &str) -> PyResult<(Option<PyPolicy>, String, Vec<Diagnostic>)> {
    let bytes = std::fs::read(path)
        .map_err(|e| PyOSError::new_err(format!("cannot read `{path}`: {e}")))?;
    let checked = settle_lang::check_bytes(path, &bytes, &mut FileLoader);
    let problems = &checked.problems;
    let summary = match (problems.error_count(), problems.warning_count()) {
        (0, 0) => "ok".to_string(),
        (e, w) => format!("{} and {}", plural(e, "error"), plural(w, "warning")),
    };
    let rendered = problems.render_plain();
    let text = format!("{rendered}{path}: {summary}\n");
    let diagnostics = problems
        .to_json()
        .into_iter()
        .map(|p| {
            let severity = serde_severity(&p.severity);
            (p.code.to_string(), p.message, p.file, p.range.line, p.range.column, p.help, severity)
        })
        .collect();
    let policy =
        checked.policy.map(|policy| PyPolicy { policy: Arc::new(policy), warnings: rendered });
    Ok((policy, text, diagnostics))
}

fn serde_severity(s: &settle_lang::diagnostic::Severity) -> String {
    format!("{s:?}").to_lowercase()
}

#[pymethods]
impl PyPolicy {
    /// The policy's name.
    #[getter]
    fn name(&self) -> String {
        self.policy.name.clone()
    }

    /// The input record's fields: `(name, type name)` in declaration order.
    #[getter]
    fn input_fields(&self) -> Vec<(String, String)> {
        let Some(record) = self.policy.input_record() else { return Vec::new() };
        record
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.ty.name(&self.policy.enums, &self.policy.records)))
            .collect()
    }

    /// The names of the input's claim id, member id and dating fields, and of the field keying
    /// its group totals (`None` without group totals): what a claim is, whose, and when.
    #[getter]
    fn key_fields(&self) -> (String, String, String, Option<String>) {
        let name = |i: usize| {
            self.policy
                .input_record()
                .and_then(|r| r.fields.get(i))
                .map_or_else(String::new, |f| f.name.clone())
        };
        let p = &self.policy;
        (name(p.id_field), name(p.member_field), name(p.dated_field), p.group_field().map(name))
    }

    /// The variants of each enum the input's fields read: `{enum name: [variants]}`.
    #[getter]
    fn enums(&self) -> Vec<(String, Vec<String>)> {
        self.policy.enums.iter().map(|e| (e.name.clone(), e.variants.clone())).collect()
    }

    /// The columns `settle run` writes, in order.
    #[getter]
    fn output_columns(&self) -> Vec<String> {
        ["line", "id", "member", "status", "error"]
            .into_iter()
            .map(String::from)
            .chain(output_columns(&self.policy))
            .collect()
    }

    /// The rendered warnings of the check (empty when none).
    #[getter]
    fn warnings(&self) -> String {
        self.warnings.clone()
    }

    /// The output's Arrow schema.
    fn output_schema(&self) -> PyArrowType<arrow_array::RecordBatch> {
        PyArrowType(RecordBatch::new_empty(output_schema(&self.policy)))
    }

    /// A settler with the backend named (`jit` or `interp`).
    fn settler(&self, backend: &str) -> PyResult<PySettler> {
        let policy = (*self.policy).clone();
        let (engine, note) = match backend {
            "jit" => match Engine::compiled(policy.clone()) {
                Ok(engine) => (engine, None),
                Err(e) => {
                    (Engine::new(policy), Some(format!("{e}; settling with the interpreter")))
                }
            },
            "interp" | "interpreter" => (Engine::new(policy), None),
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown backend `{other}`: `jit` or `interp`"
                )));
            }
        };
        Ok(PySettler { settler: Settler::new(Arc::new(engine)), note })
    }
}

/// Settles batches of claims, keeping members' and groups' year-to-date state between them.
#[pyclass(name = "Settler", module = "settle._settle")]
struct PySettler {
    settler: Settler,
    /// Why the compiled code was not used, if it was asked for and refused.
    note: Option<String>,
}

#[pymethods]
impl PySettler {
    /// Settle the claims of `batches` (one table's batches, in order) after those settled
    /// before: one batch of settlements.
    fn settle(
        &mut self,
        py: Python<'_>,
        batches: Vec<PyArrowType<RecordBatch>>,
    ) -> PyResult<PyArrowType<RecordBatch>> {
        let batches: Vec<RecordBatch> = batches.into_iter().map(|b| b.0).collect();
        let settler = &mut self.settler;
        let out = py.detach(move || settler.settle_batches(&batches));
        out.map(PyArrowType).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The text `settle explain` prints for one claim (a JSON object keyed by the input's
    /// fields), explained as the only claim of its file.
    fn explain(&self, py: Python<'_>, claim: &str) -> PyResult<String> {
        let engine = self.settler.engine();
        py.detach(|| {
            let claim = engine.claim_from_json(claim).map_err(|e| e.to_string())?;
            let id = engine.id_of(&claim);
            trace::explain(engine, &[claim], &id).map(|e| e.to_text())
        })
        .map_err(PyValueError::new_err)
    }

    /// `jit` or `interp`: the backend that settles.
    #[getter]
    fn backend(&self) -> &'static str {
        match self.settler.engine().backend() {
            settle_runtime::Backend::Jit => "jit",
            settle_runtime::Backend::Interpreter => "interp",
        }
    }

    /// Why the compiled code was refused, when `jit` was asked for; else `None`.
    #[getter]
    fn note(&self) -> Option<String> {
        self.note.clone()
    }
}

/// The native module.
#[pymodule]
fn _settle(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPolicy>()?;
    m.add_class::<PySettler>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    Ok(())
}
