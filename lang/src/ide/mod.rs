//! What editors ask of a policy: where each name is declared and read ([`index`]), as the
//! checker resolved it.

pub mod index;
