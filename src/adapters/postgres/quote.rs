//! Client-side quoting for the places SQL cannot take a bound parameter (DDL: extension, index
//! and database names). Same rules as the server's `quote_ident`/`quote_literal`, except that
//! identifiers are always quoted, which is never wrong.

/// `my "name"` → `"my ""name"""`. Case is preserved: the name is used exactly as given.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `it's` → `'it''s'`; a backslash makes it an `E''` literal with the backslash doubled, so the
/// result means the same under any `standard_conforming_strings`.
pub fn quote_literal(value: &str) -> String {
    let body = value.replace('\'', "''");
    if body.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes() {
        assert_eq!(quote_ident("vector"), "\"vector\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b"), "E'a\\\\b'");
    }
}
