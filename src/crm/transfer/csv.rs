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
                        fields.push(String::from_utf8_lossy(&self.output[start..e]).into_owned());
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

/// One CSV line of `fields`, quoted where needed.
pub fn csv_line(fields: &[&str]) -> String {
    let mut line = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        if f.contains([',', '"', '\n', '\r']) || f.starts_with(' ') || f.ends_with(' ') {
            line.push('"');
            line.push_str(&f.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(f);
        }
    }
    line.push_str("\r\n");
    line
}
