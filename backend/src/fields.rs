//! Turning a request's raw fields into typed values, each error naming its field: the
//! helpers every service's input shares, and the cursor paging every listing shares.

use std::fmt::Display;

use berth_frontend::api::{Page, Word};

use crate::{error::FieldErrors, Error, Result};

/// Collects the field errors of several parses, so a form shows all of them at once.
pub fn collect<T>(errors: &mut FieldErrors, parsed: Result<T>) -> Option<T> {
    match parsed {
        Ok(value) => Some(value),
        Err(Error::Invalid(fields)) => {
            errors.extend(fields);
            None
        }
        Err(other) => {
            errors.insert("_".into(), other.to_string());
            None
        }
    }
}

/// One of a `words!` enum's words, trimmed; an error names the field and the words allowed.
pub fn word<W: Word>(field: &str, raw: &str) -> Result<W> {
    W::parse(raw.trim()).ok_or_else(|| Error::invalid(field, format!("must be {}", W::choices())))
}

/// One of a fixed list of words that is not a state machine (cluster layers and the like).
pub fn one_of(field: &str, raw: &str, allowed: &[&str]) -> Result<String> {
    let value = raw.trim();
    if allowed.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(
            field,
            format!("must be one of {}", allowed.join(", ")),
        ))
    }
}

/// Required text of at most `max` characters, trimmed, without control characters.
pub fn short_text(field: &str, raw: &str, max: usize) -> Result<String> {
    let value = raw.trim();
    if value.is_empty() {
        Err(Error::invalid(field, "is required"))
    } else if value.chars().count() > max {
        Err(Error::invalid(
            field,
            format!("must be at most {max} characters"),
        ))
    } else if value.chars().any(char::is_control) {
        Err(Error::invalid(field, "must not contain control characters"))
    } else {
        Ok(value.to_owned())
    }
}

pub const MAX_PAGE: i64 = 500;
pub const DEFAULT_PAGE: i64 = 50;

/// Parses a page limit: 1–`MAX_PAGE`, default `DEFAULT_PAGE`.
pub fn parse_limit(limit: Option<i64>) -> Result<i64> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        )),
    }
}

/// A list's `q`: part of a namespace's, its team's or its cluster's name (all lowercase, so
/// the term is lowered); blank is no search.
pub fn search(raw: Option<&str>) -> Result<Option<String>> {
    let Some(term) = raw.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    if term.chars().count() > 63 {
        return Err(Error::invalid("q", "must be at most 63 characters"));
    }
    Ok(Some(term.to_lowercase()))
}

/// A list's order: a column the list sorts by, and which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub column: &'static str,
    pub descending: bool,
}

/// A list's `sort`: one of `columns`, `-column` for descending; blank is the list's own order.
pub fn sort(raw: Option<&str>, columns: &[&'static str]) -> Result<Option<Sort>> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let (name, descending) = match raw.strip_prefix('-') {
        Some(name) => (name, true),
        None => (raw, false),
    };
    columns
        .iter()
        .find(|c| **c == name)
        .map(|column| Some(Sort { column, descending }))
        .ok_or_else(|| {
            Error::invalid(
                "sort",
                format!(
                    "must be one of {}, or one of them after - for the reverse order",
                    columns.join(", ")
                ),
            )
        })
}

/// Where a list's page starts. With a `sort`, a column's order, paged by position (the cursor
/// is the number of rows before the page); without, the list's own order, paged by the key
/// `parse` reads from the cursor (`after`).
pub struct Paging<C> {
    pub sort: Option<Sort>,
    pub after: Option<C>,
    pub offset: i64,
}

/// A list's `sort` (one of `columns`) and `cursor`, read as [`Paging`].
pub fn paging<C>(
    errors: &mut FieldErrors,
    sort: Option<&str>,
    columns: &[&'static str],
    raw_cursor: Option<&str>,
    parse: impl FnOnce(&str) -> Option<C>,
) -> Paging<C> {
    let sort = collect(errors, self::sort(sort, columns)).flatten();
    match sort {
        Some(_) => Paging {
            sort,
            after: None,
            offset: cursor(errors, raw_cursor, |c| {
                c.parse::<i64>().ok().filter(|n| *n >= 0)
            })
            .unwrap_or(0),
        },
        None => Paging {
            sort,
            after: cursor(errors, raw_cursor, parse),
            offset: 0,
        },
    }
}

impl<C> Paging<C> {
    /// The page of `items`, fetched with `LIMIT limit + 1` from where this paging starts;
    /// `key` names the next page's cursor in the list's own order.
    pub fn page<T, K: Display>(
        &self,
        mut items: Vec<T>,
        limit: i64,
        key: impl Fn(&T) -> K,
    ) -> Page<T> {
        if self.sort.is_none() {
            return page(items, limit, key);
        }
        let more = items.len() as i64 > limit;
        items.truncate(limit.max(0) as usize);
        Page {
            items,
            next_cursor: more.then(|| (self.offset + limit).to_string()),
        }
    }
}

/// The `cursor` a previous page returned, read by `parse`; absent or empty is the first page.
pub fn cursor<C>(
    errors: &mut FieldErrors,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Option<C>,
) -> Option<C> {
    let raw = raw.filter(|c| !c.is_empty())?;
    let parsed = parse(raw);
    if parsed.is_none() {
        errors.insert(
            "cursor".into(),
            "is not a cursor from a previous page".into(),
        );
    }
    parsed
}

/// A page from rows fetched with `LIMIT limit + 1`: the extra row only says there is more,
/// and the last row kept names the next page's cursor.
pub fn page<T, K: Display>(mut items: Vec<T>, limit: i64, key: impl Fn(&T) -> K) -> Page<T> {
    let more = items.len() as i64 > limit;
    if more {
        items.truncate(limit.max(0) as usize);
    }
    let next_cursor = more
        .then(|| items.last().map(|t| key(t).to_string()))
        .flatten();
    Page { items, next_cursor }
}
