//! Where PediaClusters come from: a host cluster ([`host`]) or a file ([`file`](mod@file)).

pub mod file;
pub mod host;
