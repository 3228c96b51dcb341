//! Splitting Docker's log/exec chunks into complete lines, one buffer per stream. A chunk can
//! hold part of a line or several lines; with `timestamps` every line (and every continuation
//! of a line the logging driver split) starts with an RFC 3339 timestamp and a space.
//!
//! Invariant: bytes are never lost or reordered within a stream; an unterminated tail is kept
//! until more arrives or `flush` is called at end of stream.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    Stdout,
    Stderr,
}

/// One complete line (without its newline).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogLine {
    pub stream: StreamKind,
    /// Engine timestamp of the line's first byte, when timestamps were requested.
    pub timestamp: Option<DateTime<Utc>>,
    pub text: String,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    timestamp: Option<DateTime<Utc>>,
}

/// Per-stream line assembly.
#[derive(Default)]
pub struct LineSplitter {
    timestamps: bool,
    stdout: Pending,
    stderr: Pending,
}

impl LineSplitter {
    /// `timestamps`: the chunks carry Docker's timestamp prefixes, to be parsed and stripped.
    pub fn new(timestamps: bool) -> Self {
        LineSplitter {
            timestamps,
            ..Default::default()
        }
    }

    /// Feeds one chunk; returns the lines it completed.
    pub fn push(&mut self, stream: StreamKind, chunk: &[u8]) -> Vec<LogLine> {
        let timestamps = self.timestamps;
        let pending = match stream {
            StreamKind::Stdout => &mut self.stdout,
            StreamKind::Stderr => &mut self.stderr,
        };
        let mut out = Vec::new();
        let mut rest = chunk;
        // Each chunk from the engine begins a log record, so it may carry a prefix even when
        // it continues a partial line.
        let mut at_record_start = true;
        while !rest.is_empty() {
            if timestamps && (at_record_start || pending.bytes.is_empty()) {
                let (ts, body) = strip_timestamp(rest);
                if pending.bytes.is_empty() && pending.timestamp.is_none() {
                    pending.timestamp = ts;
                }
                rest = body;
            }
            at_record_start = false;
            match rest.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    pending.bytes.extend_from_slice(&rest[..i]);
                    out.push(take_line(stream, pending));
                    rest = &rest[i + 1..];
                    // Docker prefixes every line, so a line starting inside a chunk has one too.
                    at_record_start = true;
                }
                None => {
                    pending.bytes.extend_from_slice(rest);
                    rest = &[];
                }
            }
        }
        out
    }

    /// Emits unterminated tails at end of stream.
    pub fn flush(&mut self) -> Vec<LogLine> {
        let mut out = Vec::new();
        for (kind, p) in [
            (StreamKind::Stdout, &mut self.stdout),
            (StreamKind::Stderr, &mut self.stderr),
        ] {
            if !p.bytes.is_empty() {
                out.push(take_line(kind, p));
            }
        }
        out
    }
}

fn take_line(stream: StreamKind, p: &mut Pending) -> LogLine {
    let mut bytes = std::mem::take(&mut p.bytes);
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    LogLine {
        stream,
        timestamp: p.timestamp.take(),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Parses a leading `2024-01-02T03:04:05.123456789Z ` prefix; returns the rest unchanged when
/// there is none.
fn strip_timestamp(b: &[u8]) -> (Option<DateTime<Utc>>, &[u8]) {
    let Some(space) = b.iter().take(40).position(|c| *c == b' ') else {
        return (None, b);
    };
    let Ok(s) = std::str::from_utf8(&b[..space]) else {
        return (None, b);
    };
    match DateTime::parse_from_rfc3339(s) {
        Ok(ts) => (Some(ts.with_timezone(&Utc)), &b[space + 1..]),
        Err(_) => (None, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[LogLine]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn partial_and_multiple_lines_per_stream() {
        let mut s = LineSplitter::new(false);
        assert!(s.push(StreamKind::Stdout, b"hel").is_empty());
        assert!(s.push(StreamKind::Stderr, b"err-a").is_empty());
        let l = s.push(StreamKind::Stdout, b"lo\nworld\nta");
        assert_eq!(texts(&l), ["hello", "world"]);
        let l = s.push(StreamKind::Stderr, b"\r\n");
        assert_eq!(texts(&l), ["err-a"]);
        assert_eq!(l[0].stream, StreamKind::Stderr);
        assert_eq!(texts(&s.flush()), ["ta"]);
        assert!(s.flush().is_empty());
    }

    #[test]
    fn timestamps_are_parsed_and_stripped_including_continuations() {
        let mut s = LineSplitter::new(true);
        let l = s.push(
            StreamKind::Stdout,
            b"2024-05-01T10:00:00.000000001Z a\n2024-05-01T10:00:01Z b\n",
        );
        assert_eq!(texts(&l), ["a", "b"]);
        assert_eq!(
            l[1].timestamp.unwrap().to_rfc3339(),
            "2024-05-01T10:00:01+00:00"
        );
        assert!(
            s.push(StreamKind::Stdout, b"2024-05-01T10:00:02Z part-")
                .is_empty()
        );
        let l = s.push(StreamKind::Stdout, b"2024-05-01T10:00:03Z two\n");
        assert_eq!(texts(&l), ["part-two"]);
        assert_eq!(
            l[0].timestamp.unwrap().to_rfc3339(),
            "2024-05-01T10:00:02+00:00"
        );
    }

    #[test]
    fn text_that_is_not_a_timestamp_is_kept() {
        let mut s = LineSplitter::new(true);
        let l = s.push(StreamKind::Stdout, b"no stamp here\n");
        assert_eq!(texts(&l), ["no stamp here"]);
        assert!(l[0].timestamp.is_none());
    }
}
