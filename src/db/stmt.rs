//! Fixed SQL statements that diesel prepares once per connection and then
//! reuses.
//!
//! diesel caches the prepared statements of SELECTs and DELETEs it builds,
//! but never those of UPDATEs (their changesets may vary) nor of
//! `sql_query` text; each of those is parsed and planned again on every
//! call. The job queue runs several UPDATEs per job, so its statements are
//! written as [`Stmt`]s: fixed text, cached by that text, with values bound,
//! never spliced in.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType, Integer, Nullable, Text, Timestamp, Untyped};

/// A value bound to a statement.
#[derive(Debug, Clone)]
pub enum Value {
    BigInt(i64),
    Int(i32),
    Bool(bool),
    Text(String),
    OptText(Option<String>),
    Time(NaiveDateTime),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::BigInt(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::OptText(v.map(str::to_string))
    }
}

impl From<NaiveDateTime> for Value {
    fn from(v: NaiveDateTime) -> Self {
        Value::Time(v)
    }
}

/// A statement whose text marks each bound value with `?`; diesel writes
/// the database's own placeholder there (`$1`, `$2`, ... on PostgreSQL).
/// Run it like any diesel query: `.execute(c)`, or `.load(c)` into a
/// `QueryableByName` type.
#[derive(Debug, Clone)]
pub struct Stmt {
    sql: &'static str,
    values: Vec<Value>,
}

impl Stmt {
    /// `values` in the order of the `?`s in `sql`.
    pub fn new(sql: &'static str, values: Vec<Value>) -> Stmt {
        debug_assert_eq!(
            sql.matches('?').count(),
            values.len(),
            "one value per ? in {sql}"
        );
        Stmt { sql, values }
    }
}

/// `stmt!(SQL, a, b, ...)`: a [`Stmt`] with the values converted.
#[macro_export]
macro_rules! stmt {
    ($sql:expr $(, $v:expr)* $(,)?) => {
        $crate::db::stmt::Stmt::new($sql, vec![$($crate::db::stmt::Value::from($v)),*])
    };
}

impl<DB> QueryFragment<DB> for Stmt
where
    DB: Backend
        + HasSqlType<BigInt>
        + HasSqlType<Integer>
        + HasSqlType<Bool>
        + HasSqlType<Text>
        + HasSqlType<Nullable<Text>>
        + HasSqlType<Timestamp>,
    i64: ToSql<BigInt, DB>,
    i32: ToSql<Integer, DB>,
    bool: ToSql<Bool, DB>,
    String: ToSql<Text, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut pieces = self.sql.split('?');
        out.push_sql(pieces.next().unwrap_or(""));
        for (value, piece) in self.values.iter().zip(pieces) {
            match value {
                Value::BigInt(v) => out.push_bind_param::<BigInt, _>(v)?,
                Value::Int(v) => out.push_bind_param::<Integer, _>(v)?,
                Value::Bool(v) => out.push_bind_param::<Bool, _>(v)?,
                Value::Text(v) => out.push_bind_param::<Text, _>(v)?,
                Value::OptText(v) => out.push_bind_param::<Nullable<Text>, _>(v)?,
                Value::Time(v) => out.push_bind_param::<Timestamp, _>(v)?,
            }
            out.push_sql(piece);
        }
        Ok(())
    }
}

impl QueryId for Stmt {
    type QueryId = ();
    // Cached by its text (and the types bound), which is fixed.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Stmt {
    type SqlType = Untyped;
}

impl<C> RunQueryDsl<C> for Stmt {}
