//! The query model: selectors and list options.
pub mod field_selector;
pub mod label_selector;
mod lexer;
