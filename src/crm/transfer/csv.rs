//! Reading and writing CSV: records split from a byte stream as it
//! arrives, and lines quoted where needed.

use crate::error::{ApiError, ApiResult, ErrorCode};

/// Splits a byte stream into CSV records as it arrives.
pub struct CsvStream {
    reader: csv_core::Reader,
    output: Vec<u8>,
    ends: Vec<usize>,
    out_len: usize,
    ends_len: usize,
}

impl Default for CsvStream {
    fn default() -> Self {
        CsvStream {
            reader: csv_core::Reader::new(),
            output: vec![0; 4096],
            ends: vec![0; 64],
            out_len: 0,
            ends_len: 0,
        }
    }
}

/// A CSV field too large to be a contact's.
const MAX_RECORD: usize = 64 * 1024;

impl CsvStream {
    /// Feeds `input` (empty at the end of the body); returns the records it
    /// completed.
    pub fn feed(&mut self, mut input: &[u8]) -> ApiResult<Vec<Vec<String>>> {
        let end = input.is_empty();
        let mut records = Vec::new();
        loop {
            let (result, nin, nout, nend) = self.reader.read_record(
                input,
                &mut self.output[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            input = &input[nin..];
            self.out_len += nout;
            self.ends_len += nend;
            use csv_core::ReadRecordResult::*;
            match result {
                InputEmpty if !end => break,
                InputEmpty => continue,
                OutputFull => {
                    if self.output.len() >= MAX_RECORD {
                        return Err(ApiError::new(
                            ErrorCode::ValidationFailed,
                            "a row of the file is longer than 64 KiB",
                        ));
                    }
                    let n = self.output.len() * 2;
                    self.output.resize(n, 0);
                }
                OutputEndsFull => {
                    if self.ends.len() >= 1024 {
                        return Err(ApiError::new(
                            ErrorCode::ValidationFailed,
                            "a row has more than 1024 columns",
                        ));
                    }
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                Record => {
                    let mut fields = Vec::with_capacity(self.ends_len);
                    let mut start = 0;
                    for &e in &self.ends[..self.ends_len] {
                        let field = String::from_utf8_lossy(&self.output[start..e]);
                        fields.push(unguarded(&field).to_owned());
                        start = e;
                    }
                    records.push(fields);
                    self.out_len = 0;
                    self.ends_len = 0;
                }
                End => break,
            }
        }
        Ok(records)
    }
}

/// Would a spreadsheet read this cell as a formula? It starts with `=`,
/// `+`, `-`, `@`, a tab or a carriage return (OWASP's list), or it is such
/// a cell already guarded with `'` (so guarding stays reversible).
fn formula_like(cell: &str) -> bool {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => true,
        Some('\'') => formula_like(&cell[1..]),
        _ => false,
    }
}

/// A cell as exported: a formula-like one gets a leading `'`, which
/// spreadsheets show as text and do not run (CSV injection).
fn guarded(cell: &str) -> std::borrow::Cow<'_, str> {
    if formula_like(cell) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// A cell as imported: the guard [`guarded`] added is taken off again, so
/// an export imports back unchanged.
fn unguarded(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if formula_like(rest) => rest,
        _ => cell,
    }
}

/// One CSV line of `fields`, quoted where needed, formula-like cells
/// guarded.
pub fn csv_line(fields: &[&str]) -> String {
    let mut line = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let f = guarded(f);
        if f.contains([',', '"', '\n', '\r']) || f.starts_with(' ') || f.ends_with(' ') {
            line.push('"');
            line.push_str(&f.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(&f);
        }
    }
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_guarded_on_export_and_unguarded_on_import() {
        for (cell, exported) in [
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("+1 555 0100", "'+1 555 0100"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("'=x", "''=x"),
            ("'plain", "'plain"),
            ("plain", "plain"),
        ] {
            let line = csv_line(&[cell]);
            assert_eq!(line, format!("{exported}\r\n"), "{cell:?}");
            let mut stream = CsvStream::default();
            let mut rows = stream.feed(line.as_bytes()).unwrap();
            rows.extend(stream.feed(b"").unwrap());
            assert_eq!(rows, vec![vec![cell.to_owned()]], "{cell:?} round trip");
        }
    }
}
