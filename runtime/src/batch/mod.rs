//! The batch fast path: a file of claims (CSV or JSON Lines) read, settled and written (CSV or
//! JSON Lines) without making a [`Value`](crate::Value) for any field.
//!
//! The general path reads every claim into a row of [`Value`](crate::Value)s and keeps every settlement's
//! values; on a million claims that is most of a run's time and memory. This path, taken when
//! the policy is settled by closures or compiled code that need no fallback (no list or record
//! fields, no folds or text comparisons), works on scaled integers from end to end:
//!
//! - **Reading.** A thread of its own reads the file in windows of whole records (for CSV, from
//!   the first window holding a quote on, the rest of the file in one), each window cut into
//!   pieces parsed in parallel, each field straight from its bytes into the record's row of a
//!   block per piece ([`Table`]): a fixed number of bytes a record, numbers and dates in 4,
//!   variants in 1, each id in a slot of 8 to 31 bytes sized from the file's first records,
//!   longer ids in a byte arena. Every field is read by the reader of its type
//!   ([`crate::field::Field::read`]), the general path's own. A record in error, and a JSON line
//!   that is not a flat object of plain values, go to the general reader's own function, so
//!   their values or error rows are the general path's. Duplicate ids are found by a parallel
//!   sort of 64-bit keys (a hash above the index; `keys.rs`).
//! - **Settling.** Members are grouped by a parallel sort of such keys of their ids (a hash
//!   shared by different members is split exactly); tasks of about 256 claims copy their rows
//!   (first both ends of each, so that the cache misses overlap), fill one block, order and
//!   settle them, and write each claim's settled values (its outputs, then its accumulators
//!   before it, 4 bytes each where they fit) back into its own row, in place of its numbers,
//!   which nothing reads again: the rows are still in the cache, and no other block is needed.
//! - **Writing.** Rows are formatted from those values in parallel pieces straight to bytes,
//!   written in order by a thread of its own while the next batch is formatted.
//!
//! The output is byte for byte the general path's; `tests/batch.rs` compares the two on every
//! policy the path takes, in every combination of formats, on generated claims, hostile input,
//! random bodies and windows, and the `batch` fuzz target on any bytes.
//!
//! Memory, per claim, for the Dezhou employee policy (9 input fields, 7 outputs, 7
//! accumulators): the table's row of 76 bytes (the ids' 18 and the level's 1, padded to 20,
//! then the larger of the numbers' 24 and the settled values' 56) and 1 of status (line numbers
//! only where records do not follow each other line after line); while reading, two windows of
//! the file (16 MiB each) and 8 bytes for the duplicate search; while settling, 8 for grouping:
//! about 85 bytes a claim at the peak, 1.25 times the input's size as measured. See
//! `docs/performance.md`.

use settle_lang::ir::{Policy, Type};

use crate::engine::Engine;
use crate::field::Field;
use crate::io::output_slots;

mod group;
#[cfg(feature = "arrow")]
mod read_arrow;
mod read_csv;
mod read_jsonl;
mod reading;
mod settle;
mod table;
mod write;
#[cfg(feature = "arrow")]
mod write_arrow;

#[cfg(feature = "arrow")]
pub use read_arrow::ArrowTable;
pub use read_csv::{read_table, read_table_from};
pub use read_jsonl::read_jsonl_table_from;
#[cfg(feature = "arrow")]
pub(crate) use settle::settle_table_carried;
pub use settle::{Settled, Shares, settle_shares, settle_table};
pub use table::Table;
pub use write::{write_table_csv, write_table_jsonl};
#[cfg(feature = "arrow")]
pub use write_arrow::output_batch;

/// Bytes of the file read at a time by [`read_table_from`].
pub const WINDOW: usize = 16 << 20;

/// Whether `engine` settles its policy's claims by this path: closures or compiled code that
/// need no fallback, and input fields that are numbers, dates, enum variants or texts.
pub fn supported(engine: &Engine) -> bool {
    let policy = engine.policy();
    let scalar = policy
        .input_record()
        .is_some_and(|r| r.fields.iter().all(|f| !matches!(f.ty, Type::Record(_) | Type::List(_))));
    scalar && engine.settles_without_fallback()
}

/// How many values a claim settles into: its outputs, then its accumulators before it.
fn settled_values(policy: &Policy) -> usize {
    output_slots(policy).len() + policy.accumulators.len()
}

/// How one input field is read: by its type's reader ([`Field::read`]); `required` for the
/// claim and member ids (empty is an error).
#[derive(Debug)]
struct Kind<'p> {
    field: Field<'p>,
    required: bool,
}

fn kinds(policy: &Policy) -> Vec<Kind<'_>> {
    let Some(record) = policy.input_record() else { return Vec::new() };
    record
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| Kind {
            field: Field::of(policy, f.ty),
            required: i == policy.id_field || i == policy.member_field,
        })
        .collect()
}
