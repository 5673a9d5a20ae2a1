//! A small SQL text builder: fragments written by this crate, values always bound.
//!
//! [`Sql`] accumulates statement text and the values bound to it. Text comes only from this
//! crate ([`Sql::push`] takes `&'static str`, or numbers and identifiers produced here);
//! everything that comes from a request or an object is added with [`Sql::bind`], which writes
//! the dialect's placeholder (`$n` on PostgreSQL, `?` elsewhere).

use std::fmt::Write as _;

use storage_api::Gvr;

use crate::dialect::Dialect;

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bind {
    /// Text.
    Text(String),
    /// A 64-bit integer.
    Int(i64),
    /// A nullable 64-bit integer.
    OptInt(Option<i64>),
    /// A 64-bit float (a relevance score).
    Float(storage_api::query::Float),
    /// A text array (PostgreSQL only: `text[]`).
    TextArray(Vec<String>),
    /// An integer array (PostgreSQL only: `bigint[]`).
    IntArray(Vec<i64>),
    /// A nullable-integer array (PostgreSQL only: `bigint[]`).
    OptIntArray(Vec<Option<i64>>),
}

impl From<&str> for Bind {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<String> for Bind {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&String> for Bind {
    fn from(value: &String) -> Self {
        Self::Text(value.clone())
    }
}

impl From<i64> for Bind {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<Option<i64>> for Bind {
    fn from(value: Option<i64>) -> Self {
        Self::OptInt(value)
    }
}

/// A statement being built: its text and its bound values, for one dialect.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    dialect: Dialect,
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    /// An empty statement for `dialect`.
    pub(crate) fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            text: String::with_capacity(256),
            binds: Vec::new(),
        }
    }

    /// The dialect the statement is written in.
    pub(crate) fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Appends SQL text written by this crate.
    pub(crate) fn push(&mut self, fragment: &'static str) -> &mut Self {
        self.text.push_str(fragment);
        self
    }

    /// Appends an integer literal (generated here: positions, aliases; never request text).
    pub(crate) fn push_int(&mut self, value: usize) -> &mut Self {
        let _ = write!(self.text, "{value}");
        self
    }

    /// Appends a placeholder and binds `value` to it.
    pub(crate) fn bind(&mut self, value: impl Into<Bind>) -> &mut Self {
        self.binds.push(value.into());
        match self.dialect {
            Dialect::Postgres => {
                let _ = write!(self.text, "${}", self.binds.len());
            }
            Dialect::MySql | Dialect::Sqlite => self.text.push('?'),
        }
        self
    }

    /// Appends `api_group = ? AND api_version = ? AND resource = ?` for `gvr`, each column
    /// prefixed with `table` (`"r."`, or `""` for unqualified columns).
    pub(crate) fn push_resource_is(&mut self, gvr: &Gvr, table: &'static str) -> &mut Self {
        self.push(table)
            .push("api_group = ")
            .bind(&gvr.group)
            .push(" AND ")
            .push(table)
            .push("api_version = ")
            .bind(&gvr.version)
            .push(" AND ")
            .push(table)
            .push("resource = ")
            .bind(&gvr.resource)
    }

    /// Appends the placeholders `?, ?, ?` of `gvr`'s group, version and resource (three values
    /// of a row).
    pub(crate) fn bind_resource(&mut self, gvr: &Gvr) -> &mut Self {
        self.bind(&gvr.group)
            .push(", ")
            .bind(&gvr.version)
            .push(", ")
            .bind(&gvr.resource)
    }

    /// Appends `items` separated by `separator`, each written by `write`.
    pub(crate) fn join<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        separator: &'static str,
        mut write: impl FnMut(&mut Self, T),
    ) -> &mut Self {
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.push(separator);
            }
            write(self, item);
        }
        self
    }

    /// Appends `(?, ?, …)` binding each value.
    pub(crate) fn bind_list<T: Into<Bind>>(
        &mut self,
        values: impl IntoIterator<Item = T>,
    ) -> &mut Self {
        self.push("(");
        self.join(values, ", ", |sql, value| {
            sql.bind(value);
        });
        self.push(")")
    }

    /// Appends another statement of the same dialect (its placeholders renumbered).
    pub(crate) fn append(&mut self, other: &Sql) -> &mut Self {
        match self.dialect {
            Dialect::Postgres => {
                // Renumber `$n` placeholders: shift them by the binds already here.
                let shift = self.binds.len();
                let text = other.text.as_bytes();
                let mut i = 0;
                while i < text.len() {
                    if text[i] == b'$' {
                        let digits = text[i + 1..]
                            .iter()
                            .take_while(|b| b.is_ascii_digit())
                            .count();
                        if digits > 0 {
                            let n: usize = other.text[i + 1..i + 1 + digits].parse().unwrap_or(0);
                            let _ = write!(self.text, "${}", n + shift);
                            i += 1 + digits;
                            continue;
                        }
                    }
                    let len = other.text[i..].chars().next().map_or(1, char::len_utf8);
                    self.text.push_str(&other.text[i..i + len]);
                    i += len;
                }
            }
            Dialect::MySql | Dialect::Sqlite => self.text.push_str(&other.text),
        }
        self.binds.extend(other.binds.iter().cloned());
        self
    }

    /// The statement text.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The bound values, in placeholder order.
    pub(crate) fn binds(&self) -> &[Bind] {
        &self.binds
    }

    /// How many values are bound.
    pub(crate) fn bind_count(&self) -> usize {
        self.binds.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_dialect() {
        let mut pg = Sql::new(Dialect::Postgres);
        pg.push("SELECT 1 WHERE a = ")
            .bind("x")
            .push(" AND b IN ")
            .bind_list([1_i64, 2]);
        assert_eq!(pg.text(), "SELECT 1 WHERE a = $1 AND b IN ($2, $3)");
        assert_eq!(pg.bind_count(), 3);

        let mut my = Sql::new(Dialect::MySql);
        my.push("a = ").bind("x' OR '1'='1");
        assert_eq!(my.text(), "a = ?");
        assert_eq!(my.binds(), &[Bind::Text("x' OR '1'='1".into())]);
    }
}
