//! The SQL that differs between PostgreSQL, MySQL/MariaDB and SQLite, in one place.
//!
//! Everything else in the crate writes dialect-neutral SQL (plain columns, `IN`, `EXISTS`, row
//! ids) and asks the [`Dialect`] for the rest: JSON access, label predicates, integer
//! comparisons of text, substring search, `LIMIT`/`OFFSET`, NULL ordering, and the shapes of the
//! batch statements.
//!
//! # Values, never text
//!
//! Request values are always bound ([`Sql::bind`]). Field paths are bound too: as a `text[]`
//! (`#>>`) or a `jsonpath` on PostgreSQL, and as a JSON path string (`$."spec"."nodeName"`) on
//! MySQL and SQLite, built from the validated segments of a [`FieldPath`] (Kubernetes
//! qualified names: letters, digits, `-`, `_`, `.` and `/` only).
//!
//! # Field values compare as text
//!
//! The enhanced field selector compares the *text* of a JSON value
//! ([`storage_api::query::field_selector::scalar_text`]): a string is its text, a number or
//! boolean its JSON text, `null` and a missing value are absent. Each dialect's
//! [`Dialect::push_field_text`] produces exactly that (SQLite's `json_extract` turns `true` into
//! `1`, MySQL's `JSON_UNQUOTE` turns `null` into `'null'`: both are corrected here). Objects and
//! arrays compare as the database writes them, which may differ in spacing from serde_json's
//! compact form (no selector of the suite compares whole objects).

use storage_api::StorageError;
use storage_api::query::field_selector::{FieldPath, FieldRequirement, PathSegment};
use storage_api::query::label_selector::{LabelOperator, LabelRequirement};

use crate::sql::{Bind, Sql};

/// How a JSON column stores its value (PostgreSQL only: elsewhere JSON is text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonKind {
    /// `jsonb`: parsed, indexable (labels, events).
    Binary,
    /// `json`: the text kept byte for byte (objects).
    Verbatim,
}

/// A relational database family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PostgreSQL (12 or later; tested on 15).
    Postgres,
    /// MySQL 8 or MariaDB 10.6 or later (tested on MariaDB 10.11).
    MySql,
    /// SQLite 3.38 or later (bundled).
    Sqlite,
}

impl Dialect {
    /// The name used in messages and in the configuration's `type`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::MySql => "mysql",
            Self::Sqlite => "sqlite",
        }
    }

    /// The columns that rebuild a stored object ([`crate::rows::object_from_row`] reads them in
    /// this order), prefixed by the table alias `r`.
    pub(crate) fn object_columns(self) -> &'static str {
        match self {
            Self::Postgres => {
                "r.cluster, r.api_group, r.api_version, r.resource, r.kind, r.namespace, r.name, \
                 r.uid, r.owner_uid, r.resource_version, r.created_at, r.deleted_at, \
                 r.labels::text, r.object::text, r.revision"
            }
            Self::MySql | Self::Sqlite => {
                "r.cluster, r.api_group, r.api_version, r.resource, r.kind, r.namespace, r.name, \
                 r.uid, r.owner_uid, r.resource_version, r.created_at, r.deleted_at, \
                 r.labels, r.object, r.revision"
            }
        }
    }

    /// The `events` column as JSON text.
    pub(crate) fn events_column(self) -> &'static str {
        match self {
            Self::Postgres => "r.events::text",
            Self::MySql | Self::Sqlite => "r.events",
        }
    }

    /// The `event_resource_versions` column as JSON text (no table alias).
    pub(crate) fn event_versions_column(self) -> &'static str {
        match self {
            Self::Postgres => "event_resource_versions::text",
            Self::MySql | Self::Sqlite => "event_resource_versions",
        }
    }

    /// Whether a keyset position is best written as a row-value comparison
    /// (`(a, b) > (?, ?)`), which the planner turns into an index seek. MariaDB does not seek
    /// on row values, so MySQL gets the expanded form with a leading bound instead.
    pub(crate) fn seeks_row_values(self) -> bool {
        matches!(self, Self::Postgres | Self::Sqlite)
    }

    /// What follows `ASC`/`DESC` so that missing values (NULL) sort lowest: first ascending,
    /// last descending. MySQL and SQLite do that by default.
    pub(crate) fn nulls_lowest(self, descending: bool) -> &'static str {
        match (self, descending) {
            (Self::Postgres, false) => " NULLS FIRST",
            (Self::Postgres, true) => " NULLS LAST",
            _ => "",
        }
    }

    /// Appends `LIMIT`/`OFFSET` (bound) for an optional limit and an offset.
    pub(crate) fn push_limit_offset(self, sql: &mut Sql, limit: Option<u64>, offset: u64) {
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        match (limit, offset) {
            (None, 0) => {}
            (Some(limit), 0) => {
                sql.push(" LIMIT ").bind(clamp(limit));
            }
            (Some(limit), offset) => {
                sql.push(" LIMIT ")
                    .bind(clamp(limit))
                    .push(" OFFSET ")
                    .bind(clamp(offset));
            }
            (None, offset) => {
                match self {
                    Self::Postgres => sql.push(" OFFSET ").bind(clamp(offset)),
                    // Both need a LIMIT before OFFSET: the largest one each accepts.
                    Self::MySql => sql
                        .push(" LIMIT 18446744073709551615 OFFSET ")
                        .bind(clamp(offset)),
                    Self::Sqlite => sql.push(" LIMIT -1 OFFSET ").bind(clamp(offset)),
                };
            }
        }
    }

    /// Whether batches bind whole columns as arrays (`UNNEST($1::text[], …)`): one statement
    /// shape for any number of rows. Elsewhere batches are multi-row `VALUES`.
    pub(crate) fn binds_arrays(self) -> bool {
        self == Self::Postgres
    }

    /// Appends a JSON text value for a column of `kind`.
    pub(crate) fn push_json_value(self, sql: &mut Sql, text: String, kind: JsonKind) {
        match (self, kind) {
            (Self::Postgres, JsonKind::Binary) => {
                sql.push("CAST(").bind(text).push(" AS jsonb)");
            }
            (Self::Postgres, JsonKind::Verbatim) => {
                sql.push("CAST(").bind(text).push(" AS json)");
            }
            (Self::MySql | Self::Sqlite, _) => {
                sql.bind(text);
            }
        }
    }

    /// Appends a boolean value.
    pub(crate) fn push_bool(self, sql: &mut Sql, value: bool) {
        match self {
            // A bigint does not cast to boolean; text does.
            Self::Postgres => {
                sql.push("CAST(")
                    .bind(if value { "true" } else { "false" })
                    .push(" AS boolean)");
            }
            Self::MySql | Self::Sqlite => {
                sql.bind(i64::from(value));
            }
        }
    }

    /// Appends what makes an `INSERT INTO table` replace the row whose unique `key` columns (a
    /// parenthesized list) it collides with: `columns` take the inserted values. On PostgreSQL
    /// the columns of `kept_when_equal` keep their stored value when the inserted one equals it:
    /// a value sent again differs from its stored (compressed or out-of-line) form byte for
    /// byte, and an indexed column that differs makes the update non-HOT (a new entry in every
    /// index of the table; migration 22).
    pub(crate) fn push_on_conflict_update(
        self,
        sql: &mut Sql,
        table: &'static str,
        key: &'static str,
        columns: &[&'static str],
        kept_when_equal: &[&'static str],
    ) {
        match self {
            Self::Postgres | Self::Sqlite => {
                sql.push(" ON CONFLICT ").push(key).push(" DO UPDATE SET ");
                sql.join(columns, ", ", |sql, column| {
                    sql.push(column).push(" = ");
                    if self == Self::Postgres && kept_when_equal.contains(column) {
                        sql.push("CASE WHEN ")
                            .push(table)
                            .push(".")
                            .push(column)
                            .push(" = excluded.")
                            .push(column)
                            .push(" THEN ")
                            .push(table)
                            .push(".")
                            .push(column)
                            .push(" ELSE excluded.")
                            .push(column)
                            .push(" END");
                    } else {
                        sql.push("excluded.").push(column);
                    }
                });
            }
            // VALUES(): understood by MariaDB and (deprecated but working) by MySQL 8.
            Self::MySql => {
                sql.push(" ON DUPLICATE KEY UPDATE ");
                sql.join(columns, ", ", |sql, column| {
                    sql.push(column).push(" = VALUES(").push(column).push(")");
                });
            }
        }
    }

    /// MySQL/SQLite: appends `JSON_SET(COALESCE(column, '{}'), ?, <value>, …)` setting the
    /// members `(path, value)`; values are JSON texts when `json_values`, else strings.
    pub(crate) fn push_json_set<'a>(
        self,
        sql: &mut Sql,
        column: &'static str,
        members: impl IntoIterator<Item = (String, &'a str)>,
        json_values: bool,
    ) {
        sql.push(if self == Self::MySql {
            "JSON_SET(COALESCE("
        } else {
            "json_set(COALESCE("
        })
        .push(column)
        .push(", '{}')");
        for (path, value) in members {
            sql.push(", ").bind(path).push(", ");
            match (self, json_values) {
                (_, false) => {
                    sql.bind(value);
                }
                // MariaDB has no CAST(… AS JSON); JSON_EXTRACT(?, '$') is JSON on both.
                (Self::MySql, true) => {
                    sql.push("JSON_EXTRACT(").bind(value).push(", '$')");
                }
                (_, true) => {
                    sql.push("json(").bind(value).push(")");
                }
            }
        }
        sql.push(")");
    }

    /// Appends "`r.name` contains `needle`" (case-sensitive, `needle` literal: `%`, `_` and
    /// `\` match only themselves). PostgreSQL uses `LIKE`, which the pg_trgm index serves.
    pub(crate) fn push_name_contains(self, sql: &mut Sql, needle: &str) {
        match self {
            Self::Postgres => {
                let mut pattern = String::with_capacity(needle.len() + 2);
                pattern.push('%');
                for c in needle.chars() {
                    if matches!(c, '%' | '_' | '\\') {
                        pattern.push('\\');
                    }
                    pattern.push(c);
                }
                pattern.push('%');
                sql.push("r.name LIKE ").bind(pattern);
            }
            // Binary columns: LOCATE compares bytes.
            Self::MySql => {
                sql.push("LOCATE(").bind(needle).push(", r.name) > 0");
            }
            // instr is case-sensitive (LIKE is not, for ASCII).
            Self::Sqlite => {
                sql.push("instr(r.name, ").bind(needle).push(") > 0");
            }
        }
    }

    /// Appends a predicate on `r.labels` for one label requirement, with the label selector's
    /// semantics (`!=`, `notin` and `!key` hold for objects without the label; `>`/`<` compare
    /// integers, a non-integer value never matches).
    ///
    /// `drive`: whether the label may choose the rows to read (SQLite: the rows whose id the
    /// label index lists, `r.id IN (…)`). When the query also names namespaces the namespace
    /// index finds the rows and each one's labels are looked up (`EXISTS`, one primary-key
    /// probe per row): SQLite answered `IN (…)` by reading every id of the label into a
    /// temporary index first (10,000 for a common label where the namespace holds 1,000
    /// objects).
    pub(crate) fn push_label_requirement(
        self,
        sql: &mut Sql,
        requirement: &LabelRequirement,
        drive: bool,
    ) {
        let key = requirement.key.as_str();
        let values = &requirement.values;
        match self {
            Self::Postgres => match requirement.operator {
                LabelOperator::Equals | LabelOperator::DoubleEquals | LabelOperator::In => {
                    push_pg_label_containment(sql, key, values);
                }
                LabelOperator::NotEquals | LabelOperator::NotIn => {
                    sql.push("NOT ");
                    push_pg_label_containment(sql, key, values);
                }
                LabelOperator::Exists => {
                    sql.push("r.labels ? ").bind(key);
                }
                LabelOperator::DoesNotExist => {
                    sql.push("NOT (r.labels ? ").bind(key).push(")");
                }
                LabelOperator::GreaterThan | LabelOperator::LessThan => {
                    let value = |sql: &mut Sql| {
                        sql.push("(r.labels ->> ").bind(key).push(")");
                    };
                    self.push_integer_compare(sql, &value, requirement.operator, values);
                }
            },
            Self::Sqlite
                if matches!(
                    requirement.operator,
                    LabelOperator::Equals
                        | LabelOperator::DoubleEquals
                        | LabelOperator::In
                        | LabelOperator::Exists
                ) =>
            {
                // The label index (`schema::sqlite_label_index`): the objects with the label.
                if drive {
                    sql.push("r.id IN (SELECT l.resource_id FROM resource_labels l WHERE l.key = ");
                } else {
                    sql.push(
                        "EXISTS (SELECT 1 FROM resource_labels l WHERE l.resource_id = r.id \
                         AND l.key = ",
                    );
                }
                sql.bind(key);
                if requirement.operator != LabelOperator::Exists {
                    sql.push(" AND l.value");
                    push_in(sql, values);
                }
                sql.push(")");
            }
            Self::MySql | Self::Sqlite => {
                let path = json_path_of_key(key);
                let value = |sql: &mut Sql| match self {
                    Self::MySql => {
                        sql.push("CAST(JSON_UNQUOTE(JSON_EXTRACT(r.labels, ")
                            .bind(path.clone())
                            .push(")) AS BINARY)");
                    }
                    _ => {
                        sql.push("json_extract(r.labels, ")
                            .bind(path.clone())
                            .push(")");
                    }
                };
                push_text_requirement(self, sql, &value, requirement.operator, values);
            }
        }
    }

    /// Appends a predicate for one enhanced field selector requirement on `r.object`.
    ///
    /// Paths through lists (`[]`) are evaluated with `jsonb_path_query` on PostgreSQL,
    /// `json_each` on SQLite and `JSON_TABLE` on MySQL/MariaDB. Never refused: the `Result` is
    /// kept for dialects that cannot.
    pub(crate) fn push_field_requirement(
        self,
        sql: &mut Sql,
        requirement: &FieldRequirement,
    ) -> Result<(), StorageError> {
        let operator = requirement.operator;
        let values = &requirement.values;
        let path = &requirement.path;
        if !needs_set_semantics(self, path) {
            let value = |sql: &mut Sql| self.push_field_text(sql, path);
            push_text_requirement(self, sql, &value, operator, values);
            return Ok(());
        }
        // Several values may be found: positive operators hold when one of them satisfies
        // the requirement, negative ones when none satisfies its positive form.
        let (negated, positive) = match operator {
            LabelOperator::NotEquals => (true, LabelOperator::Equals),
            LabelOperator::NotIn => (true, LabelOperator::In),
            LabelOperator::DoesNotExist => (true, LabelOperator::Exists),
            _ => (false, operator),
        };
        if negated {
            sql.push("NOT ");
        }
        match self {
            Self::Postgres => {
                sql.push("EXISTS (SELECT 1 FROM jsonb_path_query(r.object::jsonb, CAST(")
                    .bind(pg_json_path(path))
                    .push(" AS jsonpath), '{}'::jsonb, true) AS found(j) WHERE ");
                let value = |sql: &mut Sql| {
                    sql.push(
                        "(CASE jsonb_typeof(found.j) WHEN 'string' THEN found.j #>> '{}' \
                         WHEN 'null' THEN NULL ELSE found.j::text END)",
                    );
                };
                push_text_requirement(self, sql, &value, positive, values);
                sql.push(")");
            }
            Self::Sqlite => {
                let last = push_sqlite_each_chain(sql, path);
                sql.push(" WHERE ");
                let value = |sql: &mut Sql| {
                    push_sqlite_text(
                        sql,
                        &|sql: &mut Sql| sqlite_element(sql, last),
                        &last_path(path),
                    );
                };
                push_text_requirement(self, sql, &value, positive, values);
                sql.push(")");
            }
            Self::MySql => {
                // A wildcard path extracts every match, wrapped in an array; JSON_TABLE
                // turns that array into rows (its own path must be a literal: `$[*]`).
                sql.push("EXISTS (SELECT 1 FROM JSON_TABLE(JSON_EXTRACT(r.object, ")
                    .bind(mysql_sqlite_json_path(path.segments()))
                    .push("), '$[*]' COLUMNS (v JSON PATH '$')) AS found WHERE ");
                let value = |sql: &mut Sql| {
                    sql.push(
                        "(CASE WHEN JSON_TYPE(found.v) = 'NULL' THEN NULL \
                         ELSE CAST(JSON_UNQUOTE(found.v) AS BINARY) END)",
                    );
                };
                push_text_requirement(self, sql, &value, positive, values);
                sql.push(")");
            }
        }
        Ok(())
    }

    /// Appends the text of the value at `path` (no list markers) in `r.object`, or NULL when it
    /// is missing or JSON `null`.
    pub(crate) fn push_field_text(self, sql: &mut Sql, path: &FieldPath) {
        match self {
            Self::Postgres => {
                sql.push("(r.object #>> ")
                    .bind(Bind::TextArray(pg_text_path(path)))
                    .push("::text[])");
            }
            Self::MySql => {
                let path = mysql_sqlite_json_path(path.segments());
                sql.push("(CASE WHEN JSON_TYPE(JSON_EXTRACT(r.object, ")
                    .bind(path.clone())
                    .push(")) = 'NULL' THEN NULL ELSE CAST(JSON_UNQUOTE(JSON_EXTRACT(r.object, ")
                    .bind(path)
                    .push(")) AS BINARY) END)");
            }
            Self::Sqlite => {
                let json_path = mysql_sqlite_json_path(path.segments());
                push_sqlite_text(
                    sql,
                    &|sql: &mut Sql| {
                        sql.push("r.object");
                    },
                    &json_path,
                );
            }
        }
    }

    /// Appends the sort value of an `orderby` field path: its text (byte-wise ordered), NULL
    /// when missing.
    pub(crate) fn push_path_sort_value(self, sql: &mut Sql, path: &FieldPath) {
        match self {
            Self::Postgres => {
                if needs_set_semantics(self, path) {
                    // An all-digit field name: take the first value jsonpath finds.
                    sql.push(
                        "((SELECT CASE jsonb_typeof(found.j) WHEN 'string' THEN found.j #>> '{}' \
                         WHEN 'null' THEN NULL ELSE found.j::text END \
                         FROM jsonb_path_query(r.object::jsonb, CAST(",
                    )
                    .bind(pg_json_path(path))
                    .push(" AS jsonpath), '{}'::jsonb, true) AS found(j) LIMIT 1) COLLATE \"C\")");
                } else {
                    self.push_field_text(sql, path);
                    sql.push(" COLLATE \"C\"");
                }
            }
            Self::MySql | Self::Sqlite => self.push_field_text(sql, path),
        }
    }

    /// Appends an integer comparison (`>`/`<` against the single integer in `bound`) of the
    /// text written by `value`: holds only when the text is an integer in the `i64` range
    /// (optional sign, digits), as Rust's `i64::from_str` reads it.
    fn push_integer_compare(
        self,
        sql: &mut Sql,
        value: &dyn Fn(&mut Sql),
        operator: LabelOperator,
        bound: &[String],
    ) {
        let bound = match bound {
            [one] => one.parse::<i64>().ok(),
            _ => None,
        };
        let Some(bound) = bound else {
            sql.push("1 = 0");
            return;
        };
        let greater = operator == LabelOperator::GreaterThan;
        match self {
            Self::Postgres | Self::MySql => {
                let number = |sql: &mut Sql| {
                    sql.push("(CASE WHEN ");
                    if self == Self::Postgres {
                        value(sql);
                        sql.push(" ~ '^[+-]?[0-9]+$' THEN CAST(");
                        value(sql);
                        sql.push(" AS numeric) END)");
                    } else {
                        // MySQL 8 refuses REGEXP on binary strings: convert to text first.
                        sql.push("CONVERT(");
                        value(sql);
                        sql.push(" USING utf8mb4) REGEXP '^[+-]?[0-9]+$' THEN CAST(");
                        value(sql);
                        sql.push(" AS DECIMAL(65, 0)) END)");
                    }
                };
                sql.push("(");
                number(sql);
                sql.push(if greater { " > " } else { " < " })
                    .bind(bound)
                    .push(" AND ");
                number(sql);
                sql.push(if greater {
                    " <= 9223372036854775807)"
                } else {
                    " >= -9223372036854775808)"
                });
            }
            Self::Sqlite => {
                // digits: the text without its sign; magnitude: digits without leading zeros.
                let digits = |sql: &mut Sql| {
                    sql.push("(CASE WHEN substr(");
                    value(sql);
                    sql.push(", 1, 1) IN ('+', '-') THEN substr(");
                    value(sql);
                    sql.push(", 2) ELSE ");
                    value(sql);
                    sql.push(" END)");
                };
                let magnitude = |sql: &mut Sql| {
                    sql.push("ltrim(");
                    digits(sql);
                    sql.push(", '0')");
                };
                sql.push("(");
                digits(sql);
                sql.push(" <> '' AND ");
                digits(sql);
                sql.push(" NOT GLOB '*[^0-9]*' AND (length(");
                magnitude(sql);
                sql.push(") < 19 OR (length(");
                magnitude(sql);
                sql.push(") = 19 AND (");
                magnitude(sql);
                sql.push(" <= '9223372036854775807' OR (substr(");
                value(sql);
                sql.push(", 1, 1) = '-' AND ");
                magnitude(sql);
                sql.push(" = '9223372036854775808')))) AND CAST(");
                value(sql);
                sql.push(" AS INTEGER)")
                    .push(if greater { " > " } else { " < " })
                    .bind(bound)
                    .push(")");
            }
        }
    }
}

/// `r.labels @> '{"k":"v"}'` for one value, an OR of them for several (each served by the GIN
/// index).
fn push_pg_label_containment(sql: &mut Sql, key: &str, values: &[String]) {
    sql.push("(");
    sql.join(values, " OR ", |sql, value| {
        let mut object = serde_json::Map::new();
        object.insert(key.to_owned(), serde_json::Value::String(value.clone()));
        sql.push("r.labels @> CAST(")
            .bind(serde_json::Value::Object(object).to_string())
            .push(" AS jsonb)");
    });
    if values.is_empty() {
        sql.push("1 = 0");
    }
    sql.push(")");
}

/// Appends a requirement on a single nullable text value written by `value` (NULL: missing).
fn push_text_requirement(
    dialect: Dialect,
    sql: &mut Sql,
    value: &dyn Fn(&mut Sql),
    operator: LabelOperator,
    values: &[String],
) {
    match operator {
        LabelOperator::Equals | LabelOperator::DoubleEquals | LabelOperator::In => {
            value(sql);
            push_in(sql, values);
        }
        LabelOperator::NotEquals | LabelOperator::NotIn => {
            sql.push("(");
            value(sql);
            sql.push(" IS NULL OR NOT (");
            value(sql);
            push_in(sql, values);
            sql.push("))");
        }
        LabelOperator::Exists => {
            value(sql);
            sql.push(" IS NOT NULL");
        }
        LabelOperator::DoesNotExist => {
            value(sql);
            sql.push(" IS NULL");
        }
        LabelOperator::GreaterThan | LabelOperator::LessThan => {
            dialect.push_integer_compare(sql, value, operator, values);
        }
    }
}

/// ` = ?` for one value, ` IN (?, …)` for several.
fn push_in(sql: &mut Sql, values: &[String]) {
    match values {
        [] => {
            sql.push(" IS NULL AND 1 = 0");
        }
        [one] => {
            sql.push(" = ").bind(one);
        }
        many => {
            sql.push(" IN ").bind_list(many.iter());
        }
    }
}

/// Whether `path` needs the set-valued evaluation (`jsonb_path_query`, `json_each`): it has a
/// `[]` marker, or, on PostgreSQL, any list marker or an all-digit field name (which `#>>`
/// would take for an array index, or an index for an object member). MySQL and SQLite
/// evaluate `[N]` in their JSON paths (MySQL also reads `[0]` of a non-list as the value
/// itself, a difference the contract's fixtures do not exercise).
fn needs_set_semantics(dialect: Dialect, path: &FieldPath) -> bool {
    let any_index = path
        .segments()
        .iter()
        .any(|s| matches!(s, PathSegment::AnyIndex));
    any_index
        || (dialect == Dialect::Postgres
            && path.segments().iter().any(|s| match s {
                PathSegment::Field(name) => name.bytes().all(|b| b.is_ascii_digit()),
                PathSegment::Index(_) | PathSegment::AnyIndex => true,
            }))
}

/// The `text[]` path of `#>>` (no `[]` markers).
fn pg_text_path(path: &FieldPath) -> Vec<String> {
    path.segments()
        .iter()
        .map(|s| match s {
            PathSegment::Field(name) => name.clone(),
            PathSegment::Index(i) => i.to_string(),
            PathSegment::AnyIndex => "*".to_owned(),
        })
        .collect()
}

/// A strict-mode SQL/JSON path (`strict $."spec"."containers"[*]."name"`): strict, so that a
/// field step never looks inside a list and a missing member yields nothing (errors are
/// silenced by `jsonb_path_query`'s `silent` argument).
fn pg_json_path(path: &FieldPath) -> String {
    let mut out = String::from("strict $");
    for segment in path.segments() {
        match segment {
            PathSegment::Field(name) => {
                out.push_str(".\"");
                for c in name.chars() {
                    if matches!(c, '"' | '\\') {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
            PathSegment::AnyIndex => out.push_str("[*]"),
            PathSegment::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// The MySQL/SQLite JSON path of segments (`$."spec"."containers"[0]`; `[]` must not occur).
///
/// Field names are Kubernetes qualified names (validated by the field path parser): they
/// cannot hold `"` or `\`, so double quotes delimit them safely; the path is bound, not pasted.
fn mysql_sqlite_json_path(segments: &[PathSegment]) -> String {
    let mut out = String::from("$");
    for segment in segments {
        match segment {
            PathSegment::Field(name) => {
                out.push_str(".\"");
                out.extend(name.chars().filter(|c| !matches!(c, '"' | '\\')));
                out.push('"');
            }
            PathSegment::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
            PathSegment::AnyIndex => out.push_str("[*]"),
        }
    }
    out
}

/// The JSON path of one label key under `labels` (`$."app.kubernetes.io/name"`).
fn json_path_of_key(key: &str) -> String {
    mysql_sqlite_json_path(&[PathSegment::Field(key.to_owned())])
}

/// SQLite: the text of the value at `path` in the JSON written by `source`, as
/// [`storage_api::query::field_selector::scalar_text`] gives it.
fn push_sqlite_text(sql: &mut Sql, source: &dyn Fn(&mut Sql), path: &str) {
    sql.push("(CASE json_type(");
    source(sql);
    sql.push(", ").bind(path).push(
        ") WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN NULL ELSE CAST(json_extract(",
    );
    source(sql);
    sql.push(", ").bind(path).push(") AS TEXT) END)");
}

/// SQLite: the chunks of `path` between its `[]` markers.
fn chunks(path: &FieldPath) -> Vec<&[PathSegment]> {
    path.segments()
        .split(|s| matches!(s, PathSegment::AnyIndex))
        .collect()
}

/// SQLite: the JSON path of the last chunk (after the last `[]`).
fn last_path(path: &FieldPath) -> String {
    mysql_sqlite_json_path(chunks(path).last().copied().unwrap_or_default())
}

/// SQLite: the JSON text of element row `e<n>` (`'{}'` when it is not a container, so that a
/// field step into it finds nothing).
fn sqlite_element(sql: &mut Sql, n: usize) {
    sql.push("(CASE WHEN e")
        .push_int(n)
        .push(".type IN ('object', 'array') THEN e")
        .push_int(n)
        .push(".value ELSE '{}' END)");
}

/// SQLite: `EXISTS (SELECT 1 FROM json_each(…) AS e1, json_each(…) AS e2 …`, one `json_each`
/// per `[]` of `path`, each over the list found at the chunk before it (only lists are
/// expanded: an object there yields nothing). Returns the number of the last element alias.
fn push_sqlite_each_chain(sql: &mut Sql, path: &FieldPath) -> usize {
    let chunks = chunks(path);
    let lists = chunks.len() - 1;
    sql.push("EXISTS (SELECT 1 FROM ");
    for (i, chunk) in chunks[..lists].iter().enumerate() {
        let n = i + 1;
        let json_path = mysql_sqlite_json_path(chunk);
        let source = |sql: &mut Sql| {
            if n == 1 {
                sql.push("r.object");
            } else {
                sqlite_element(sql, n - 1);
            }
        };
        if i > 0 {
            sql.push(", ");
        }
        sql.push("json_each(CASE WHEN json_type(");
        source(sql);
        sql.push(", ")
            .bind(json_path.clone())
            .push(") = 'array' THEN ");
        source(sql);
        sql.push(" ELSE '[]' END, ")
            .bind(json_path)
            .push(") AS e")
            .push_int(n);
    }
    lists
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> FieldPath {
        FieldPath::parse(s).expect("valid path")
    }

    #[test]
    fn json_paths_quote_every_field() {
        let p = path("metadata.annotations['example.io/team']");
        assert_eq!(
            mysql_sqlite_json_path(p.segments()),
            "$.\"metadata\".\"annotations\".\"example.io/team\""
        );
        assert_eq!(
            pg_text_path(&p),
            ["metadata", "annotations", "example.io/team"]
        );
        assert_eq!(
            pg_json_path(&path("spec.containers[].ports[0].containerPort")),
            "strict $.\"spec\".\"containers\"[*].\"ports\"[0].\"containerPort\""
        );
        assert_eq!(
            last_path(&path("spec.containers[].env[].name")),
            "$.\"name\""
        );
    }

    #[test]
    fn digit_fields_take_the_set_path_on_postgres_only() {
        assert!(needs_set_semantics(Dialect::Postgres, &path("data.0")));
        assert!(!needs_set_semantics(Dialect::Sqlite, &path("data.0")));
        assert!(!needs_set_semantics(
            Dialect::Postgres,
            &path("status.podIP")
        ));
        assert!(needs_set_semantics(
            Dialect::Postgres,
            &path("spec.containers[0].name")
        ));
        assert!(!needs_set_semantics(
            Dialect::MySql,
            &path("spec.containers[0].name")
        ));
        assert!(needs_set_semantics(
            Dialect::MySql,
            &path("spec.containers[].name")
        ));
    }

    #[test]
    fn fuzzy_patterns_escape_like_wildcards() {
        let mut sql = Sql::new(Dialect::Postgres);
        Dialect::Postgres.push_name_contains(&mut sql, "o_t%\\");
        assert_eq!(sql.text(), "r.name LIKE $1");
        assert_eq!(sql.binds(), &[Bind::Text("%o\\_t\\%\\\\%".into())]);
    }

    #[test]
    fn list_fields_expand_on_every_dialect() {
        let requirement: FieldRequirement = "spec.containers[].name!=api".parse().expect("valid");
        for dialect in [Dialect::Postgres, Dialect::MySql, Dialect::Sqlite] {
            let mut sql = Sql::new(dialect);
            dialect
                .push_field_requirement(&mut sql, &requirement)
                .expect("answered");
            assert!(
                sql.text().starts_with("NOT EXISTS (SELECT 1 FROM "),
                "{}",
                sql.text()
            );
        }
    }
}
