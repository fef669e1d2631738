//! Reading and writing one CSV file the way spreadsheets save them, without loss.
//!
//! A file is read with the `csv` crate after its dialect is detected (UTF-8 BOM, `,` or
//! `;`, LF or CRLF). Each row keeps the exact bytes it had in the file, so a rewrite
//! reproduces every row nobody changed byte for byte; a changed row is written in the
//! canonical form (quotes only where needed). Errors carry the line and the character
//! column where they are.

use std::fmt;

/// How a file is written: what it was read with, so that a rewrite keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvFormat {
    pub delimiter: u8,
    pub bom: bool,
    pub crlf: bool,
}

impl Default for CsvFormat {
    fn default() -> Self {
        Self { delimiter: b',', bom: false, crlf: false }
    }
}

impl CsvFormat {
    pub fn line_end(&self) -> &'static [u8] {
        if self.crlf { b"\r\n" } else { b"\n" }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A place in a file, 1-based, columns counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: u64,
    pub column: u64,
}

/// One problem found in a file: `tasks.csv:4:17: message`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
    }
}

/// One row's cells, stored compactly: the row's line as written in the file, and where
/// each cell's value lies in it. A quoted cell's value is the text between its quotes;
/// only a row with a doubled quote (`""`) inside a cell keeps a decoded copy.
#[derive(Clone, PartialEq, Eq)]
pub struct Row {
    /// The row as it stands in the file, without its line end.
    line: Box<str>,
    /// Decoded cells, concatenated, for rows where some cell has an escaped quote;
    /// otherwise `None` and the cells are slices of `line`.
    decoded: Option<Box<str>>,
    /// Start and end of each cell's value in `decoded`, or else in `line`.
    spans: Box<[(u32, u32)]>,
    /// xxh3 of `line`: the row's version (ETag), computed once.
    hash: u64,
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.cells()).finish()
    }
}

impl Row {
    /// Builds a row from cell values, in the canonical form of `format`.
    pub fn from_cells<S: AsRef<str>>(cells: &[S], format: &CsvFormat) -> Row {
        let mut writer = csv::WriterBuilder::new()
            .delimiter(format.delimiter)
            .terminator(csv::Terminator::Any(b'\n'))
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(Vec::with_capacity(128));
        // Writing to a Vec cannot fail.
        let _ = writer.write_record(cells.iter().map(|c| c.as_ref()));
        let mut bytes = writer.into_inner().unwrap_or_default();
        bytes.pop(); // the terminator
        let line = String::from_utf8(bytes).unwrap_or_default();
        Row::from_line(line, format.delimiter)
    }

    /// The same row with `extra` empty cells after its own: its bytes stay as they
    /// were, a delimiter is added per cell.
    pub fn widened(&self, extra: usize, delimiter: u8) -> Row {
        let mut line = String::with_capacity(self.line.len() + extra);
        line.push_str(&self.line);
        line.extend(std::iter::repeat_n(delimiter as char, extra));
        Row::from_line(line, delimiter)
    }

    /// A row from a well-formed line (see [`scan_cells`]).
    fn from_line(line: String, delimiter: u8) -> Row {
        match scan_cells(&line, delimiter) {
            Ok(scan) => Row::from_scan(line, scan),
            // Lines given here were written by the csv crate or checked already.
            Err(_) => Row { line: line.into(), decoded: None, spans: Box::new([]), hash: 0 },
        }
    }

    fn from_scan(line: String, scan: Scan) -> Row {
        if !scan.escaped {
            let hash = xxhash_rust::xxh3::xxh3_64(line.as_bytes());
            return Row { line: line.into(), decoded: None, spans: scan.spans.into_boxed_slice(), hash };
        }
        // Some cell has doubled quotes: keep the decoded cells beside the line.
        let mut decoded = String::with_capacity(line.len());
        let mut spans = Vec::with_capacity(scan.spans.len());
        for &(start, end) in &scan.spans {
            let begin = decoded.len();
            decoded.push_str(&line[start as usize..end as usize].replace("\"\"", "\""));
            spans.push((begin as u32, decoded.len() as u32));
        }
        let hash = xxhash_rust::xxh3::xxh3_64(line.as_bytes());
        Row { line: line.into(), decoded: Some(decoded.into()), spans: spans.into_boxed_slice(), hash }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The decoded value of cell `i` (empty past the end).
    pub fn cell(&self, i: usize) -> &str {
        let Some(&(start, end)) = self.spans.get(i) else { return "" };
        let text = self.decoded.as_deref().unwrap_or(&self.line);
        &text[start as usize..end as usize]
    }

    pub fn cells(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.cell(i))
    }

    /// A fingerprint of the row's line (for ETags).
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The row's bytes as they go into the file, without the line end.
    pub fn line(&self) -> &str {
        &self.line
    }
}

/// A file read into rows, or the reasons it could not be.
#[derive(Debug)]
pub struct ParsedFile {
    pub format: CsvFormat,
    pub header: Vec<String>,
    /// The header's line as it stands in the file.
    pub header_line: String,
    /// Each row with the line it starts on.
    pub rows: Vec<(u64, Row)>,
}

/// Reads a whole file. `file_name` only labels the problems.
pub fn parse(bytes: &[u8], file_name: &str) -> Result<ParsedFile, Vec<Problem>> {
    match parse_all(bytes, file_name) {
        (Some(parsed), problems) if problems.is_empty() => Ok(parsed),
        (_, problems) => Err(problems),
    }
}

/// Reads a whole file as far as it can, as a compiler reads a program: every row with
/// a bad quote or the wrong number of fields is a problem and is left out, and the
/// other rows come back so that their cells can be checked in the same run. None when
/// not even a header could be read.
pub fn parse_all(bytes: &[u8], file_name: &str) -> (Option<ParsedFile>, Vec<Problem>) {
    match parse_inner(bytes, file_name) {
        Ok((parsed, problems)) => (Some(parsed), problems),
        Err(problems) => (None, problems),
    }
}

fn parse_inner(bytes: &[u8], file_name: &str) -> Result<(ParsedFile, Vec<Problem>), Vec<Problem>> {
    let problem = |loc: Location, message: String| Problem {
        file: file_name.to_string(),
        line: loc.line,
        column: loc.column,
        message,
    };
    let bom = bytes.starts_with(BOM);
    let body = if bom { &bytes[BOM.len()..] } else { bytes };
    let text = std::str::from_utf8(body).map_err(|e| {
        let loc = locate(body, e.valid_up_to());
        vec![problem(loc, "the file is not valid UTF-8; save it as CSV UTF-8".to_string())]
    })?;
    if text.trim().is_empty() {
        return Err(vec![problem(Location { line: 1, column: 1 }, "the file is empty; expected a header row".into())]);
    }
    let (delimiter, crlf) = detect_dialect(text);
    let format = CsvFormat { delimiter, bom, crlf };

    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(text.as_bytes());
    // Record starts (byte offset) and contents; a record's bytes run to the next start.
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::with_capacity(text.len() / 256);
    let mut problems = Vec::new();
    // Line numbers are counted here: the csv crate does not count breaks inside quotes.
    let (mut counted_to, mut line) = (0usize, 1u64);
    // The csv crate finds where each record starts; a record's bytes run to the next
    // one's start, so each is finished when the next is read (the file is never held
    // twice). One scan of the record then checks its quotes and finds its cells.
    let mut finish = |start: usize, end: usize| {
        line += text.as_bytes()[counted_to..start].iter().filter(|&&b| b == b'\n').count() as u64;
        counted_to = start;
        let raw = trim_line_end(&text[start..end]);
        match scan_cells(raw, delimiter) {
            Err(offset) => problems.push(problem(
                locate_in(text, start, offset, line),
                "unbalanced quote: a quoted cell is never closed, or a quote stands inside an unquoted cell \
                 (quote the whole cell and double the quote inside)"
                    .to_string(),
            )),
            Ok(scan) => {
                let row = Row::from_scan(raw.to_string(), scan);
                if header.is_none() {
                    header = Some(row.cells().map(str::to_string).collect());
                } else {
                    rows.push((line, row));
                }
            }
        }
    };
    let mut record = csv::ByteRecord::new();
    let mut previous_start: Option<usize> = None;
    loop {
        let start = reader.position().byte() as usize;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let mut at = record.position().map(|p| p.byte() as usize).unwrap_or(start);
                // The crate may place a record's start on the previous line end (CRLF)
                // or before blank lines; the row begins at its first real byte.
                while matches!(text.as_bytes().get(at), Some(b'\r' | b'\n')) {
                    at += 1;
                }
                if let Some(prev_start) = previous_start {
                    finish(prev_start, at);
                }
                previous_start = Some(at);
            }
            Err(e) => {
                let at = e.position().map(|p| p.byte() as usize).unwrap_or(start);
                return Err(vec![problem(locate(text.as_bytes(), at), format!("unreadable row: {e}"))]);
            }
        }
    }
    if let Some(prev_start) = previous_start {
        finish(prev_start, text.len());
    }
    let Some(header) = header else {
        problems.push(problem(Location { line: 1, column: 1 }, "no header row".into()));
        return Err(problems);
    };
    let header_line = text[..text.find('\n').unwrap_or(text.len())].trim_end_matches('\r').to_string();
    // Rows whose field count differs from the header's are problems, and left out.
    rows.retain(|(line, row)| {
        let fits = row.len() == header.len() || (row.len() == 1 && row.cell(0).is_empty());
        if !fits {
            problems.push(problem(
                Location { line: *line, column: 1 },
                format!("this row has {} fields but the header has {}", row.len(), header.len()),
            ));
        }
        fits
    });
    problems.sort_by_key(|p| (p.line, p.column));
    Ok((ParsedFile { format, header, header_line, rows }, problems))
}

/// The location of cell `index` of a row that starts at `line`, for error messages.
pub fn cell_location(raw_line: &str, delimiter: u8, index: usize, line: u64) -> Location {
    let offsets = cell_offsets(raw_line, delimiter);
    let offset = offsets.get(index).copied().unwrap_or(0);
    let before = &raw_line[..offset];
    let extra_lines = before.matches('\n').count() as u64;
    let line_start = before.rfind('\n').map(|p| p + 1).unwrap_or(0);
    Location { line: line + extra_lines, column: before[line_start..].chars().count() as u64 + 1 }
}

/// Byte offsets where each cell of a raw row starts, honouring quotes.
fn cell_offsets(raw: &str, delimiter: u8) -> Vec<usize> {
    let mut offsets = vec![0];
    let mut in_quotes = false;
    for (i, b) in raw.bytes().enumerate() {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == delimiter && !in_quotes {
            offsets.push(i + 1);
        }
    }
    offsets
}

/// Where each cell's value lies in a row's line.
struct Scan {
    /// Start and end of each value: a quoted value's span lies inside its quotes.
    spans: Vec<(u32, u32)>,
    /// Some value holds a doubled quote, so the spans are not the decoded values.
    escaped: bool,
}

/// Finds the cells of one row's line, or the offset of a quote that breaks it. A
/// well-formed row has its quotes in pairs: around a cell, and doubled inside it.
fn scan_cells(line: &str, delimiter: u8) -> Result<Scan, usize> {
    let b = line.as_bytes();
    let mut spans = Vec::with_capacity(12);
    let mut escaped = false;
    let mut i = 0;
    loop {
        if b.get(i) == Some(&b'"') {
            let open = i;
            i += 1;
            let start = i;
            loop {
                match b.get(i) {
                    None => return Err(open),
                    Some(b'"') if b.get(i + 1) == Some(&b'"') => {
                        escaped = true;
                        i += 2;
                    }
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            spans.push((start as u32, i as u32));
            i += 1; // the closing quote
            match b.get(i) {
                None => break,
                Some(&d) if d == delimiter => i += 1,
                Some(_) => return Err(i),
            }
        } else {
            let start = i;
            while i < b.len() && b[i] != delimiter {
                if b[i] == b'"' {
                    return Err(i);
                }
                i += 1;
            }
            spans.push((start as u32, i as u32));
            if i >= b.len() {
                break;
            }
            i += 1; // the delimiter
        }
    }
    Ok(Scan { spans, escaped })
}

fn trim_line_end(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

/// Picks the delimiter from the header line (`;` when it has more of them than `,`,
/// as a spreadsheet in a comma-decimal locale writes) and the line end.
fn detect_dialect(text: &str) -> (u8, bool) {
    let first = &text[..text.find('\n').unwrap_or(text.len())];
    let crlf = first.ends_with('\r');
    let delimiter = if first.matches(';').count() > first.matches(',').count() { b';' } else { b',' };
    (delimiter, crlf)
}

fn locate(bytes: &[u8], offset: usize) -> Location {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map(|p| p + 1).unwrap_or(0);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() as u64 + 1;
    Location { line, column }
}

fn locate_in(text: &str, row_start: usize, offset: usize, line: u64) -> Location {
    let before = &text[row_start..row_start + offset];
    let extra = before.matches('\n').count() as u64;
    let line_start = before.rfind('\n').map(|p| p + 1).unwrap_or(0);
    Location { line: line + extra, column: before[line_start..].chars().count() as u64 + 1 }
}

/// Writes a whole table: BOM if it had one, header, rows, each with the file's line end.
pub fn write_file<'a>(out: &mut Vec<u8>, format: &CsvFormat, header_line: &str, rows: impl Iterator<Item = &'a Row>) {
    if format.bom {
        out.extend_from_slice(BOM);
    }
    out.extend_from_slice(header_line.as_bytes());
    out.extend_from_slice(format.line_end());
    for row in rows {
        out.extend_from_slice(row.line().as_bytes());
        out.extend_from_slice(format.line_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(row: &Row) -> Vec<&str> {
        row.cells().collect()
    }

    #[test]
    fn excel_russian_locale_file_is_read_and_written_back_identically() {
        let file =
            "\u{feff}id;title;description\r\n1;Купить;\"две строки\r\nвторая; с ;\"\r\n2;\"say \"\"hi\"\"\";\r\n";
        let parsed = parse(file.as_bytes(), "tasks.csv").unwrap();
        assert_eq!(parsed.format, CsvFormat { delimiter: b';', bom: true, crlf: true });
        assert_eq!(parsed.header, ["id", "title", "description"]);
        assert_eq!(cells(&parsed.rows[0].1), ["1", "Купить", "две строки\r\nвторая; с ;"]);
        assert_eq!(cells(&parsed.rows[1].1), ["2", "say \"hi\"", ""]);
        assert_eq!(parsed.rows[1].0, 4);
        let mut out = Vec::new();
        write_file(&mut out, &parsed.format, &parsed.header_line, parsed.rows.iter().map(|(_, r)| r));
        assert_eq!(String::from_utf8(out).unwrap(), file);
    }

    #[test]
    fn canonical_rows_quote_only_where_needed() {
        let row = Row::from_cells(&["3", "a,b", "plain", "q\"x"], &CsvFormat::default());
        assert_eq!(row.line(), "3,\"a,b\",plain,\"q\"\"x\"");
        assert_eq!(cells(&row), ["3", "a,b", "plain", "q\"x"]);
        let plain = Row::from_cells(&["4", "", "x"], &CsvFormat::default());
        assert_eq!(plain.line(), "4,,x");
        assert_eq!(cells(&plain), ["4", "", "x"]);
    }

    #[test]
    fn quoted_cells_are_read_in_place_and_only_escaped_quotes_keep_a_copy() {
        let format = CsvFormat::default();
        let plain_quotes = Row::from_cells(&["1", "a, b", "c\nd"], &format);
        assert!(plain_quotes.decoded.is_none(), "no second copy of the text");
        assert_eq!(cells(&plain_quotes), ["1", "a, b", "c\nd"]);
        let escaped = Row::from_cells(&["2", "say \"hi\"", "x"], &format);
        assert!(escaped.decoded.is_some());
        assert_eq!(cells(&escaped), ["2", "say \"hi\"", "x"]);
        let parsed = parse(b"id,t\n3,\"a,b\"\n", "t.csv").unwrap();
        assert!(parsed.rows[0].1.decoded.is_none());
        assert_eq!(cells(&parsed.rows[0].1), ["3", "a,b"]);
    }

    #[test]
    fn an_unclosed_quote_is_reported_where_it_opens() {
        let file = "id,title,description\n1,ok,fine\n2,\"never closed,x\n3,a,b\n";
        let problems = parse(file.as_bytes(), "tasks.csv").unwrap_err();
        assert_eq!(problems[0].to_string().split(": ").next().unwrap(), "tasks.csv:3:3");
        assert!(problems[0].message.contains("unbalanced quote"));
    }

    #[test]
    fn a_quote_inside_an_unquoted_cell_is_reported() {
        let file = "id,title\n1,bad\"quote\n";
        let problems = parse(file.as_bytes(), "tasks.csv").unwrap_err();
        assert_eq!((problems[0].line, problems[0].column), (2, 6));
    }

    #[test]
    fn a_short_row_is_reported_with_both_counts() {
        let file = "id,title,status\n1,a,new\n2,b\n";
        let problems = parse(file.as_bytes(), "tasks.csv").unwrap_err();
        assert_eq!(problems[0].to_string(), "tasks.csv:3:1: this row has 2 fields but the header has 3");
    }

    #[test]
    fn cell_locations_count_characters_and_lines() {
        let raw = "7,\"two\nlines\",Привет,x";
        assert_eq!(cell_location(raw, b',', 2, 10), Location { line: 11, column: 8 });
        assert_eq!(cell_location(raw, b',', 3, 10), Location { line: 11, column: 15 });
    }
}
